package deployments_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/billingd/billingd/api"
	"github.com/billingd/billingd/internal/config"
)

// The Dockerfile, the compose file and the Kubernetes manifests make promises
// about the binary: the variables it reads, its port, its probe routes, how
// long it takes to stop. These tests hold them to what the binary really does:
// names come from config.Variables, values go through config.Load, routes come
// from the embedded OpenAPI contract. Each checker returns its problems, so the
// tests below can also show that every check fails on a bad manifest.

const (
	repoRoot       = ".."
	deploymentsDir = "."
	composeFile    = deploymentsDir + "/docker-compose.yml"
	kubernetesDir  = deploymentsDir + "/kubernetes"
	dockerfile     = repoRoot + "/Dockerfile"

	nonrootUID = 65532 // distroless's nonroot user
)

// secretVariables must reach the binary from a Secret in Kubernetes, never as
// a literal or from a ConfigMap.
var secretVariables = []string{"DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "AUTH_JWT_SECRET", "EVENTS_WEBHOOK_SECRET"}

// facts is what the binary reads and serves, as the checkers compare against.
type facts struct {
	variables []string        // config.Variables()
	routes    map[string]bool // GET routes of the contract
	load      func(env map[string]string) (config.Config, error)
}

func binaryFacts(t *testing.T) facts {
	t.Helper()
	raw, err := api.SpecYAML()
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &spec); err != nil {
		t.Fatalf("parse the embedded contract: %v", err)
	}
	routes := map[string]bool{}
	for path, ops := range spec.Paths {
		if _, ok := ops["get"]; ok {
			routes[path] = true
		}
	}
	if !routes["/healthz"] || !routes["/readyz"] {
		t.Fatalf("the contract has no GET /healthz or /readyz: %v", routes)
	}
	return facts{
		variables: config.Variables(),
		routes:    routes,
		load: func(env map[string]string) (config.Config, error) {
			return config.Load(func(k string) string { return env[k] })
		},
	}
}

// minimalEnv is the least a production billingd needs; everything else is default.
var minimalEnv = map[string]string{
	"STRIPE_SECRET_KEY":     "sk_test_123",
	"STRIPE_WEBHOOK_SECRET": "whsec_test",
	"AUTH_JWT_SECRET":       strings.Repeat("s", 32),
}

// goRuntimeVariables are read by the Go runtime itself, not by config.
var goRuntimeVariables = []string{"GOGC", "GOMAXPROCS", "GOMEMLIMIT"}

// checkEnvironment reports names the binary does not read, required variables
// that are missing, and values config.Load refuses. It returns the loaded config.
func (f facts) checkEnvironment(where string, env map[string]string) (config.Config, []string) {
	var problems []string
	for _, name := range sortedKeys(env) {
		if !slices.Contains(f.variables, name) && !slices.Contains(goRuntimeVariables, name) {
			problems = append(problems, fmt.Sprintf("%s: sets %s, which billingd does not read (config.Variables)", where, name))
		}
	}
	for _, name := range []string{"DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"} {
		if env[name] == "" {
			problems = append(problems, fmt.Sprintf("%s: does not set %s", where, name))
		}
	}
	if env["AUTH_JWT_SECRET"] == "" && env["AUTH_JWKS_URL"] == "" {
		problems = append(problems, where+": sets neither AUTH_JWT_SECRET nor AUTH_JWKS_URL")
	}
	cfg, err := f.load(env)
	if err != nil {
		problems = append(problems, fmt.Sprintf("%s: billingd refuses this configuration: %v", where, err))
		// Check the rest against the defaults rather than a zero Config.
		if cfg, err = f.load(minimalEnv); err != nil {
			problems = append(problems, fmt.Sprintf("default configuration: %v", err))
		}
	}
	return cfg, problems
}

// checkRoute reports a probed path the binary does not serve.
func (f facts) checkRoute(where, path string) []string {
	if !f.routes[path] {
		return []string{fmt.Sprintf("%s: probes %q, which is not a GET route of billingd", where, path)}
	}
	return nil
}

// checkGrace reports a stop grace period that SIGKILLs a graceful shutdown.
func checkGrace(where string, grace time.Duration, cfg config.Config) []string {
	if need := cfg.ShutdownDelay + cfg.ShutdownTimeout; grace <= need {
		return []string{fmt.Sprintf("%s: grace period %s is not longer than SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT (%s)", where, grace, need)}
	}
	return nil
}

func TestDeployments(t *testing.T) {
	f := binaryFacts(t)
	t.Run("Dockerfile", func(t *testing.T) {
		reportProblems(t, checkDockerfile(mustParseDockerfile(t, dockerfile), f, goVersion(t)))
	})
	t.Run("Compose", func(t *testing.T) {
		reportProblems(t, checkCompose(mustLoadCompose(t, composeFile), f))
	})
	t.Run("Kubernetes", func(t *testing.T) {
		reportProblems(t, checkKubernetesFiles(kubernetesDir))
		reportProblems(t, checkKubernetes(mustLoadKubernetes(t, kubernetesDir), f))
	})
}

func reportProblems(t *testing.T, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Error(p)
	}
}

// expectProblem fails unless one of problems contains want.
func expectProblem(t *testing.T, problems []string, want string) {
	t.Helper()
	for _, p := range problems {
		if strings.Contains(p, want) {
			return
		}
	}
	t.Errorf("no problem mentions %q; got %q", want, problems)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
