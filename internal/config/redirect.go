package config

import (
	"errors"
	"net"
	"net/url"
	"slices"
	"strings"
)

// Origin returns the normalised origin "scheme://host[:port]" of an absolute
// http(s) URL: scheme and host lower-cased, the default port (80 for http, 443
// for https) dropped, IPv6 hosts in brackets. URLs with user info are refused:
// "https://app.example.com@evil.com" is a request to evil.com.
func Origin(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" { // url.Parse lower-cases the scheme
		return "", errors.New("not an http(s) URL")
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return "", errors.New("not an absolute URL")
	}
	if u.User != nil {
		return "", errors.New("URL has user info")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if port == "" {
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		return u.Scheme + "://" + host, nil
	}
	return u.Scheme + "://" + net.JoinHostPort(host, port), nil
}

// parseOrigin accepts an origin, optionally with a trailing slash, and nothing
// more: a path, query or fragment would suggest a narrower rule than the
// origin check applies.
func parseOrigin(s string) (string, error) {
	o, err := Origin(s)
	if err != nil {
		return "", err
	}
	u, _ := url.Parse(s) // parsed by Origin already
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", errors.New("an origin has no path, query or fragment")
	}
	return o, nil
}

// RedirectAllowed reports whether rawURL, given by a client as a success,
// cancel or return URL, is an absolute http(s) URL on one of the
// AllowedRedirectOrigins. Scheme, host and port must all match exactly.
func (c Config) RedirectAllowed(rawURL string) bool {
	if strings.ContainsAny(rawURL, "\\ \t\r\n") { // browsers read '\' as '/'
		return false
	}
	o, err := Origin(rawURL)
	return err == nil && slices.Contains(c.AllowedRedirectOrigins, o)
}

// DefaultSuccessURL is where Stripe Checkout sends the browser after payment
// when the client gave no successUrl. Stripe fills in the session id.
func (c Config) DefaultSuccessURL() string {
	return strings.TrimRight(c.AppURL, "/") + "/billing/success?session_id={CHECKOUT_SESSION_ID}"
}

// DefaultCancelURL is where Stripe Checkout sends the browser when the
// customer backs out and the client gave no cancelUrl.
func (c Config) DefaultCancelURL() string {
	return strings.TrimRight(c.AppURL, "/") + "/billing"
}

// AnyOrigin, as the whole of CORS_ALLOWED_ORIGINS, lets every browser origin
// call the API. It is safe only because billingd uses bearer tokens, never
// cookies: a page can call with a token it already holds, nothing more.
const AnyOrigin = "*"
