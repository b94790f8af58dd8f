package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// ErrUnauthenticated is the error of every token that does not verify. The
// wrapped text says why, for logs; it never contains the token.
var ErrUnauthenticated = errors.New("unauthenticated")

const (
	// DefaultOrgClaim is the claim holding the org id when none is configured.
	DefaultOrgClaim = "org_id"
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// MinHS256SecretBytes is the shortest HS256 secret accepted (RFC 7518 §3.2:
	// a key at least as long as the hash output).
	MinHS256SecretBytes = 32
	// MaxTokenBytes is the longest bearer token verified (SPEC §3); a longer
	// one is refused before any of it is decoded.
	MaxTokenBytes = 8 << 10
)

// Reasons wrapped with ErrUnauthenticated that are billingd's own, not the JWT
// library's.
var (
	ErrTokenTooLarge = fmt.Errorf("token is larger than %d bytes", MaxTokenBytes)
	// ErrCriticalHeader: billingd understands no JWS extension, so a token that
	// marks any as critical (RFC 7515 §4.1.11), even malformed, is refused.
	ErrCriticalHeader = errors.New(`token has a "crit" header`)
)

// Algorithms by key source: the allowlist. Anything else, "none" included, is
// rejected before a key is looked up.
var (
	secretAlgs = []string{jwt.SigningMethodHS256.Alg()}
	jwksAlgs   = []string{jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg(), jwt.SigningMethodEdDSA.Alg()}
)

// Options configure a Verifier. At least one of HS256Secret and JWKSURL is required.
type Options struct {
	HS256Secret []byte // verifies HS256 tokens; at least MinHS256SecretBytes long
	JWKSURL     string // verifies RS256, ES256 and EdDSA tokens
	Issuer      string // checked against iss when set
	Audience    string // checked against aud when set
	OrgClaim    string // claim holding the org id; DefaultOrgClaim when ""
	// Leeway is the allowed clock skew; 0 means DefaultLeeway, negative means none.
	Leeway     time.Duration
	HTTPClient *http.Client // fetches the JWKS; http.DefaultClient when nil
}

// Verifier verifies bearer tokens. It is safe for concurrent use.
type Verifier struct {
	parser   *jwt.Parser
	secret   []byte
	hsKey    any             // secret as keyFor returns it: boxed once, not per token
	jwks     keyfunc.Keyfunc // nil without JWKSURL
	orgClaim string
	// secretKey is keyFor without a JWKS, which needs no request context:
	// made once rather than for every token.
	secretKey jwt.Keyfunc
	leeway    time.Duration // on exp, as the parser applies it
	verified  *tokenCache
}

// NewVerifier returns a Verifier for opts. With a JWKS URL it fetches the key
// set in the background and keeps it fresh (hourly, and on an unknown kid at
// most every 5 minutes) until ctx ends; an unreachable JWKS at start is logged,
// not fatal, so that one identity-provider hiccup does not stop a rollout.
func NewVerifier(ctx context.Context, opts Options) (*Verifier, error) {
	if len(opts.HS256Secret) == 0 && opts.JWKSURL == "" {
		return nil, errors.New("auth: an HS256 secret or a JWKS URL is required")
	}
	if n := len(opts.HS256Secret); n > 0 && n < MinHS256SecretBytes {
		return nil, fmt.Errorf("auth: the HS256 secret must be at least %d bytes", MinHS256SecretBytes)
	}
	v := &Verifier{orgClaim: opts.OrgClaim, leeway: leewayOf(opts), verified: newTokenCache()}
	if v.orgClaim == "" {
		v.orgClaim = DefaultOrgClaim
	}
	var methods []string
	if len(opts.HS256Secret) > 0 {
		v.secret = append([]byte(nil), opts.HS256Secret...)
		v.hsKey = v.secret
		methods = append(methods, secretAlgs...)
	}
	if opts.JWKSURL != "" {
		jwks, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{opts.JWKSURL}, keyfunc.Override{
			Client:      opts.HTTPClient,
			HTTPTimeout: 10 * time.Second,
			// An unknown kid refreshes the set, rate limited; while limited, fail
			// at once rather than hold the request (the default waits a minute).
			RateLimitWaitMax: 5 * time.Second,
		})
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS %s: %w", opts.JWKSURL, err)
		}
		v.jwks = jwks
		methods = append(methods, jwksAlgs...)
	}
	v.parser = jwt.NewParser(parserOptions(opts, methods)...)
	if v.jwks == nil {
		v.secretKey = v.keyFor(context.Background())
	}
	return v, nil
}

func leewayOf(opts Options) time.Duration {
	switch {
	case opts.Leeway == 0:
		return DefaultLeeway
	case opts.Leeway < 0:
		return 0
	}
	return opts.Leeway
}

func parserOptions(opts Options, methods []string) []jwt.ParserOption {
	po := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leewayOf(opts)),
	}
	if opts.Issuer != "" {
		po = append(po, jwt.WithIssuer(opts.Issuer))
	}
	if opts.Audience != "" {
		po = append(po, jwt.WithAudience(opts.Audience))
	}
	return po
}

// Verify checks bearerToken (without the "Bearer " prefix) and returns its
// Principal. Every failure is ErrUnauthenticated, wrapping the reason.
func (v *Verifier) Verify(ctx context.Context, bearerToken string) (Principal, error) {
	if bearerToken == "" {
		return Principal{}, fmt.Errorf("%w: no token", ErrUnauthenticated)
	}
	if len(bearerToken) > MaxTokenBytes {
		return Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, ErrTokenTooLarge)
	}
	now := time.Now()
	if p, ok := v.verified.get(bearerToken, now); ok {
		return p, nil
	}
	key := v.secretKey
	if key == nil {
		key = v.keyFor(ctx)
	}
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(bearerToken, claims, key); err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	p, err := principalFrom(claims, v.orgClaim)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	// exp is required, so the parser has read it.
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		v.verified.put(bearerToken, p, now, exp.Add(v.leeway))
	}
	return p, nil
}

// keyFor picks the key source by the token's alg (already on the allowlist)
// and makes sure the key found fits that alg, so no key is ever used with an
// algorithm it was not made for. It runs before the signature is checked, so
// it is where a crit header is refused: jwt ignores crit.
func (v *Verifier) keyFor(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			return nil, ErrCriticalHeader
		}
		alg := t.Method.Alg()
		if alg == jwt.SigningMethodHS256.Alg() {
			if v.secret == nil {
				return nil, errors.New("HS256 is not configured")
			}
			return v.hsKey, nil
		}
		if v.jwks == nil {
			return nil, fmt.Errorf("%s needs a JWKS, none is configured", alg)
		}
		key, err := v.jwks.KeyfuncCtx(ctx)(t)
		if err != nil {
			return nil, err
		}
		return keyForAlg(alg, key)
	}
}
