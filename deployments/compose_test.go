package deployments_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

type composeProject struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string         `yaml:"image"`
	Build       *composeBuild  `yaml:"build"`
	Environment composeEnv     `yaml:"environment"`
	Ports       []string       `yaml:"ports"`
	Healthcheck *composeHealth `yaml:"healthcheck"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	StopGracePeriod string `yaml:"stop_grace_period"`
	Deploy          struct {
		Replicas *int `yaml:"replicas"`
	} `yaml:"deploy"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

type composeHealth struct {
	Test []string `yaml:"test"`
}

// composeEnv is a service's environment, written as a map or a KEY=VALUE list.
type composeEnv map[string]string

func (e *composeEnv) UnmarshalYAML(n *yaml.Node) error {
	*e = composeEnv{}
	if n.Kind == yaml.SequenceNode {
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			(*e)[k] = v
		}
		return nil
	}
	return n.Decode((*map[string]string)(e))
}

func mustLoadCompose(t *testing.T, path string) composeProject {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p composeProject
	if err := yaml.Unmarshal(b, &p); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

func checkCompose(p composeProject, f facts) []string {
	var problems []string
	postgres, stripeMock := "", ""
	for _, name := range sortedKeys(p.Services) {
		s := p.Services[name]
		switch {
		case strings.HasPrefix(s.Image, "postgres:"):
			postgres = name
			if s.Healthcheck == nil || !strings.Contains(strings.Join(s.Healthcheck.Test, " "), "pg_isready") {
				problems = append(problems, fmt.Sprintf("compose %s: no pg_isready healthcheck, so nothing can wait for it", name))
			}
		case strings.HasPrefix(s.Image, "stripe/stripe-mock:"):
			stripeMock = name
		}
	}
	if postgres == "" || stripeMock == "" {
		problems = append(problems, "compose: want a postgres:… and a stripe/stripe-mock:… service")
	}

	replicas := 0
	hostPorts := map[string]string{}
	for _, name := range sortedKeys(p.Services) {
		s := p.Services[name]
		if s.Build == nil || filepath.Clean(filepath.Join(deploymentsDir, s.Build.Context)) != filepath.Clean(repoRoot) {
			continue // not built from this repository
		}
		replicas += valueOr(s.Deploy.Replicas, 1)
		problems = append(problems, checkComposeBillingd(name, s, postgres, stripeMock, hostPorts, f)...)
	}
	if replicas < 2 {
		problems = append(problems, fmt.Sprintf("compose: %d billingd replica(s) built from the repository, want at least 2 behind one PostgreSQL", replicas))
	}
	return problems
}

func checkComposeBillingd(name string, s composeService, postgres, stripeMock string, hostPorts map[string]string, f facts) []string {
	where := "compose " + name
	if s.Build.Dockerfile != "" && s.Build.Dockerfile != "Dockerfile" {
		return []string{fmt.Sprintf("%s: builds %q, want the repository's Dockerfile", where, s.Build.Dockerfile)}
	}
	cfg, problems := f.checkEnvironment(where, s.Environment)
	if u, err := url.Parse(s.Environment["DATABASE_URL"]); err != nil || u.Hostname() != postgres {
		problems = append(problems, fmt.Sprintf("%s: DATABASE_URL does not point at the %q service", where, postgres))
	}
	if want := "http://" + stripeMock + ":12111"; s.Environment["STRIPE_API_BASE"] != want {
		problems = append(problems, fmt.Sprintf("%s: STRIPE_API_BASE is %q, want %s", where, s.Environment["STRIPE_API_BASE"], want))
	}
	for dep, cond := range map[string]string{postgres: "service_healthy", stripeMock: "service_started"} {
		if got := s.DependsOn[dep].Condition; got != cond && got != "service_healthy" {
			problems = append(problems, fmt.Sprintf("%s: depends_on %s with condition %q, want %s", where, dep, got, cond))
		}
	}
	for _, p := range s.Ports {
		parts := strings.Split(strings.TrimSuffix(p, "/tcp"), ":")
		if container := parts[len(parts)-1]; container != strconv.Itoa(cfg.Port) {
			problems = append(problems, fmt.Sprintf("%s: publishes container port %s, but billingd listens on PORT %d", where, container, cfg.Port))
		}
		if host := strings.Join(parts[:len(parts)-1], ":"); host != "" {
			if other, taken := hostPorts[host]; taken {
				problems = append(problems, fmt.Sprintf("%s: host port %s is taken by %s too", where, host, other))
			}
			hostPorts[host] = name
		}
	}
	problems = append(problems, checkComposeHealthcheck(where, s.Healthcheck, f)...)
	if grace, err := time.ParseDuration(s.StopGracePeriod); err != nil {
		problems = append(problems, fmt.Sprintf("%s: stop_grace_period %q, want a duration longer than SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT", where, s.StopGracePeriod))
	} else {
		problems = append(problems, checkGrace(where, grace, cfg)...)
	}
	return problems
}

// checkComposeHealthcheck wants `/billingd healthcheck [-path ROUTE]`: the
// image has no shell and no curl.
func checkComposeHealthcheck(where string, h *composeHealth, f facts) []string {
	if h == nil {
		return nil // the image's HEALTHCHECK applies
	}
	argv := h.Test
	if len(argv) < 3 || argv[0] != "CMD" || argv[1] != "/billingd" || argv[2] != "healthcheck" {
		return []string{fmt.Sprintf("%s: healthcheck %q, want [CMD, /billingd, healthcheck, …] (no shell in the image)", where, argv)}
	}
	path := "/healthz"
	for i, arg := range argv[3:] {
		if (arg == "-path" || arg == "--path") && 3+i+1 < len(argv) {
			path = argv[3+i+1]
		}
	}
	return f.checkRoute(where+" healthcheck", path)
}

func valueOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func TestComposeChecks(t *testing.T) {
	f := binaryFacts(t)
	for _, tc := range []struct {
		name   string
		mutate func(p *composeProject)
		want   string
	}{
		{"ErrUnknownVariable", func(p *composeProject) { p.Services["billingd-1"].Environment["STRIPE_KEY"] = "sk_test_123" }, "STRIPE_KEY, which billingd does not read"},
		{"ErrMissingSecret", func(p *composeProject) { delete(p.Services["billingd-1"].Environment, "STRIPE_WEBHOOK_SECRET") }, "does not set STRIPE_WEBHOOK_SECRET"},
		{"ErrNoAuth", func(p *composeProject) { delete(p.Services["billingd-1"].Environment, "AUTH_JWT_SECRET") }, "neither AUTH_JWT_SECRET nor AUTH_JWKS_URL"},
		{"ErrBadValue", func(p *composeProject) { p.Services["billingd-1"].Environment["SHUTDOWN_TIMEOUT"] = "30" }, "refuses this configuration"},
		{"ErrDatabaseHost", func(p *composeProject) {
			p.Services["billingd-1"].Environment["DATABASE_URL"] = "postgres://billingd@localhost:5432/billingd"
		}, "DATABASE_URL does not point"},
		{"ErrStripeBase", func(p *composeProject) { delete(p.Services["billingd-1"].Environment, "STRIPE_API_BASE") }, "STRIPE_API_BASE"},
		{"ErrNotHealthy", func(p *composeProject) {
			s := p.Services["billingd-1"]
			s.DependsOn = nil
			p.Services["billingd-1"] = s
		}, "depends_on postgres"},
		{"ErrContainerPort", func(p *composeProject) {
			s := p.Services["billingd-1"]
			s.Ports = []string{"8081:80"}
			p.Services["billingd-1"] = s
		}, "publishes container port 80"},
		{"ErrHostPortTwice", func(p *composeProject) {
			s := p.Services["billingd-2"]
			s.Ports = p.Services["billingd-1"].Ports
			p.Services["billingd-2"] = s
		}, "is taken by"},
		{"ErrHealthcheckShell", func(p *composeProject) {
			p.Services["billingd-1"].Healthcheck.Test = []string{"CMD-SHELL", "curl -f http://localhost:8080/healthz"}
		}, "no shell in the image"},
		{"ErrHealthcheckRoute", func(p *composeProject) {
			p.Services["billingd-1"].Healthcheck.Test = []string{"CMD", "/billingd", "healthcheck", "-path", "/ready"}
		}, `probes "/ready"`},
		{"ErrGrace", func(p *composeProject) {
			s := p.Services["billingd-1"]
			s.StopGracePeriod = "10s"
			p.Services["billingd-1"] = s
		}, "grace period 10s"},
		{"ErrOneReplica", func(p *composeProject) { delete(p.Services, "billingd-2") }, "want at least 2"},
		{"ErrNoPostgres", func(p *composeProject) { delete(p.Services, "postgres") }, "want a postgres"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustLoadCompose(t, composeFile)
			if _, ok := p.Services["billingd-1"]; !ok {
				t.Fatal("these cases expect services billingd-1 and billingd-2")
			}
			tc.mutate(&p)
			expectProblem(t, checkCompose(p, f), tc.want)
		})
	}
}
