package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
	repoRoot       = "../.."
	deploymentsDir = repoRoot + "/deployments"
	composeFile    = deploymentsDir + "/docker-compose.yml"
	kubernetesDir  = deploymentsDir + "/kubernetes"
	dockerfile     = repoRoot + "/Dockerfile"

	nonrootUID = 65532 // distroless's nonroot user
)

// secretVariables must reach the binary from a Secret in Kubernetes, never as
// a literal or from a ConfigMap.
var secretVariables = []string{"DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "AUTH_JWT_SECRET"}

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

// checkEnvironment reports names the binary does not read, required variables
// that are missing, and values config.Load refuses. It returns the loaded config.
func (f facts) checkEnvironment(where string, env map[string]string) (config.Config, []string) {
	var problems []string
	for _, name := range sortedKeys(env) {
		if !slices.Contains(f.variables, name) {
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

// ---- Dockerfile -------------------------------------------------------------

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN…
	args string
}

// stage is a build stage: its FROM and what follows.
type stage struct {
	from         string // image reference
	instructions []instruction
}

func parseDockerfile(r io.Reader) ([]stage, error) {
	var stages []stage
	var line strings.Builder
	s := bufio.NewScanner(r)
	for s.Scan() {
		text := strings.TrimSpace(s.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(text, `\`); ok {
			line.WriteString(cont + " ")
			continue
		}
		line.WriteString(text)
		cmd, args, _ := strings.Cut(line.String(), " ")
		line.Reset()
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			ref := strings.Fields(in.args)
			for len(ref) > 0 && strings.HasPrefix(ref[0], "--") { // --platform=…
				ref = ref[1:]
			}
			if len(ref) == 0 {
				return nil, errors.New("FROM without an image")
			}
			stages = append(stages, stage{from: ref[0]})
			continue
		}
		if len(stages) == 0 {
			if in.cmd == "ARG" {
				continue
			}
			return nil, fmt.Errorf("%s before the first FROM", in.cmd)
		}
		stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, in)
	}
	return stages, s.Err()
}

func mustParseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stages, err := parseDockerfile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return stages
}

// goVersion is go.mod's go line, major.minor ("1.26").
func goVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(repoRoot + "/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "go "); ok {
			parts := strings.Split(v, ".")
			return strings.Join(parts[:min(2, len(parts))], ".")
		}
	}
	t.Fatal("go.mod has no go line")
	return ""
}

func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.instructions {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// execForm parses a JSON-array (exec form) argument, e.g. of CMD or ENTRYPOINT.
func execForm(args string) ([]string, bool) {
	var argv []string
	if err := json.Unmarshal([]byte(args), &argv); err != nil || len(argv) == 0 {
		return nil, false
	}
	return argv, true
}

func checkDockerfile(stages []stage, f facts, goVersion string) []string {
	if len(stages) < 2 {
		return []string{fmt.Sprintf("Dockerfile: %d stage(s), want a multi-stage build (builder + runtime)", len(stages))}
	}
	var problems []string
	build, final := stages[0], stages[len(stages)-1]
	if want := "golang:" + goVersion; !strings.HasPrefix(build.from, want) {
		problems = append(problems, fmt.Sprintf("Dockerfile: builder is %q, want %s (go.mod's go line)", build.from, want))
	}
	problems = append(problems, checkStaticBuild(stages[:len(stages)-1])...)

	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") || !strings.Contains(final.from, "nonroot") {
		problems = append(problems, fmt.Sprintf("Dockerfile: final stage is %q, want gcr.io/distroless/static…:nonroot", final.from))
	}
	users := final.all("USER")
	if len(users) == 0 || !isNonrootUser(users[len(users)-1]) {
		problems = append(problems, fmt.Sprintf("Dockerfile: final stage runs as %q, want USER %d (nonroot)", users, nonrootUID))
	}
	entry := final.all("ENTRYPOINT")
	binary := ""
	if len(entry) == 1 {
		if argv, ok := execForm(entry[0]); ok && len(argv) == 1 {
			binary = argv[0]
		}
	}
	if binary == "" {
		problems = append(problems, fmt.Sprintf("Dockerfile: ENTRYPOINT %q, want one exec-form entry naming the binary", entry))
	}
	problems = append(problems, checkDockerHealthcheck(final, binary)...)

	cfg, err := f.load(minimalEnv)
	if err != nil {
		return append(problems, fmt.Sprintf("default configuration: %v", err))
	}
	if !slices.ContainsFunc(final.all("EXPOSE"), func(ports string) bool {
		return slices.Contains(strings.Fields(ports), strconv.Itoa(cfg.Port)) ||
			slices.Contains(strings.Fields(ports), strconv.Itoa(cfg.Port)+"/tcp")
	}) {
		problems = append(problems, fmt.Sprintf("Dockerfile: final stage does not EXPOSE %d, billingd's default PORT", cfg.Port))
	}
	return problems
}

// checkStaticBuild wants one `go build` with cgo off in the build stages.
func checkStaticBuild(stages []stage) []string {
	for _, s := range stages {
		cgoOff := slices.ContainsFunc(s.all("ENV"), func(env string) bool { return strings.Contains(env, "CGO_ENABLED=0") })
		for _, run := range s.all("RUN") {
			if !strings.Contains(run, "go build") {
				continue
			}
			if cgoOff || strings.Contains(run, "CGO_ENABLED=0") {
				return nil
			}
			return []string{fmt.Sprintf("Dockerfile: %q builds with cgo on; want CGO_ENABLED=0 (static binary)", run)}
		}
	}
	return []string{"Dockerfile: no build stage runs go build"}
}

func isNonrootUser(user string) bool {
	name, _, _ := strings.Cut(user, ":")
	return name == "nonroot" || name == strconv.Itoa(nonrootUID)
}

// checkDockerHealthcheck wants HEALTHCHECK to run `<binary> healthcheck`
// (exec form: distroless has no shell).
func checkDockerHealthcheck(final stage, binary string) []string {
	hc := final.all("HEALTHCHECK")
	if len(hc) != 1 {
		return []string{fmt.Sprintf("Dockerfile: final stage has %d HEALTHCHECK instructions, want 1", len(hc))}
	}
	_, cmd, ok := strings.Cut(hc[0], "CMD ")
	argv, isExec := execForm(strings.TrimSpace(cmd))
	if !ok || !isExec || len(argv) < 2 || argv[0] != binary || argv[1] != "healthcheck" {
		return []string{fmt.Sprintf("Dockerfile: HEALTHCHECK %q, want CMD [%q, \"healthcheck\"]", hc[0], binary)}
	}
	return nil
}

func TestDockerfileChecks(t *testing.T) {
	f := binaryFacts(t)
	check := func(t *testing.T, text string) []string {
		t.Helper()
		stages, err := parseDockerfile(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		return checkDockerfile(stages, f, "1.26")
	}
	good := `# syntax=docker/dockerfile:1
FROM golang:1.26 AS build
RUN CGO_ENABLED=0 go build \
	-o /out/billingd ./cmd/billingd
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/billingd /billingd
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=15s CMD ["/billingd", "healthcheck"]
ENTRYPOINT ["/billingd"]
`
	t.Run("OK", func(t *testing.T) { reportProblems(t, check(t, good)) })
	for _, tc := range []struct{ name, old, new, want string }{
		{"ErrSingleStage", "FROM golang:1.26 AS build\nRUN CGO_ENABLED=0 go build \\\n\t-o /out/billingd ./cmd/billingd\n", "", "multi-stage"},
		{"ErrGoVersion", "golang:1.26", "golang:1.22", "go.mod's go line"},
		{"ErrCgo", "CGO_ENABLED=0 go build", "go build", "CGO_ENABLED=0"},
		{"ErrNotDistroless", "gcr.io/distroless/static-debian12:nonroot", "alpine:3", "distroless"},
		{"ErrRoot", "USER 65532:65532", "USER root", "USER 65532"},
		{"ErrHealthcheckCurl", `CMD ["/billingd", "healthcheck"]`, `CMD curl -f http://localhost:8080/healthz`, "HEALTHCHECK"},
		{"ErrNoHealthcheck", `HEALTHCHECK --interval=15s CMD ["/billingd", "healthcheck"]`, "", "HEALTHCHECK"},
		{"ErrPort", "EXPOSE 8080", "EXPOSE 80", "EXPOSE 8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(good, tc.old, tc.new, 1)
			if bad == good {
				t.Fatalf("the case does not change the Dockerfile: %q not found", tc.old)
			}
			expectProblem(t, check(t, bad), tc.want)
		})
	}
}

// ---- docker compose ---------------------------------------------------------

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

// ---- Kubernetes -------------------------------------------------------------

type objectMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type object struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
	file       string
	node       *yaml.Node
}

type deployment struct {
	Spec struct {
		Replicas *int          `yaml:"replicas"`
		Selector labelSelector `yaml:"selector"`
		Strategy struct {
			Type          string `yaml:"type"`
			RollingUpdate struct {
				MaxUnavailable string `yaml:"maxUnavailable"`
				MaxSurge       string `yaml:"maxSurge"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     podSpec    `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int            `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               securityContext `yaml:"securityContext"`
	Containers                    []container     `yaml:"containers"`
}

type securityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	RunAsUser                *int  `yaml:"runAsUser"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	Capabilities             struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
	SeccompProfile struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
}

type container struct {
	Name  string `yaml:"name"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Env            []envVar   `yaml:"env"`
	StartupProbe   *httpProbe `yaml:"startupProbe"`
	ReadinessProbe *httpProbe `yaml:"readinessProbe"`
	LivenessProbe  *httpProbe `yaml:"livenessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext securityContext `yaml:"securityContext"`
}

type envVar struct {
	Name      string  `yaml:"name"`
	Value     *string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
		ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
	} `yaml:"valueFrom"`
}

type keyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type httpProbe struct {
	HTTPGet *struct {
		Path   string `yaml:"path"`
		Port   string `yaml:"port"` // a number or a port name
		Scheme string `yaml:"scheme"`
	} `yaml:"httpGet"`
}

type service struct {
	Spec struct {
		Type     string            `yaml:"type"`
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type hpa struct {
	Spec struct {
		ScaleTargetRef struct {
			Kind string `yaml:"kind"`
			Name string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		MinReplicas *int        `yaml:"minReplicas"`
		MaxReplicas int         `yaml:"maxReplicas"`
		Metrics     []hpaMetric `yaml:"metrics"`
	} `yaml:"spec"`
}

type hpaMetric struct {
	Resource *struct {
		Name string `yaml:"name"`
	} `yaml:"resource"`
}

type pdb struct {
	Spec struct {
		MinAvailable   string        `yaml:"minAvailable"`
		MaxUnavailable string        `yaml:"maxUnavailable"`
		Selector       labelSelector `yaml:"selector"`
	} `yaml:"spec"`
}

type keyValues struct {
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
}

// kubernetes is the parsed manifests, by kind; tests mutate it to break them.
type kubernetes struct {
	objects    []object
	deployment deployment
	service    service
	hpa        hpa
	pdb        pdb
	configMaps map[string]map[string]string
	secrets    map[string]map[string]string // example Secrets: the keys they document
}

func parseKubernetes(file string, r io.Reader) ([]object, error) {
	var objs []object
	dec := yaml.NewDecoder(r)
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		o := object{file: file, node: &n}
		if err := n.Decode(&o); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if o.Kind != "" {
			objs = append(objs, o)
		}
	}
}

func mustLoadKubernetes(t *testing.T, dir string) kubernetes {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", dir, err)
	}
	var objs []object
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		o, err := parseKubernetes(filepath.Base(file), bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o...)
	}
	k, err := newKubernetes(objs)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newKubernetes decodes each object by kind; each workload kind must appear once.
func newKubernetes(objs []object) (kubernetes, error) {
	k := kubernetes{objects: objs, configMaps: map[string]map[string]string{}, secrets: map[string]map[string]string{}}
	targets := map[string]any{
		"Deployment": &k.deployment, "Service": &k.service,
		"HorizontalPodAutoscaler": &k.hpa, "PodDisruptionBudget": &k.pdb,
	}
	seen := map[string]int{}
	for _, o := range objs {
		seen[o.Kind]++
		var err error
		switch o.Kind {
		case "ConfigMap", "Secret":
			var kv keyValues
			err = o.node.Decode(&kv)
			merged := map[string]string{}
			for k, v := range kv.Data {
				merged[k] = v
			}
			for k, v := range kv.StringData {
				merged[k] = v
			}
			if o.Kind == "ConfigMap" {
				k.configMaps[o.Metadata.Name] = merged
			} else {
				k.secrets[o.Metadata.Name] = merged
			}
		case "Kustomization":
		default:
			target, ok := targets[o.Kind]
			if !ok {
				return k, fmt.Errorf("%s: unexpected kind %s", o.file, o.Kind)
			}
			err = o.node.Decode(target)
		}
		if err != nil {
			return k, fmt.Errorf("%s: %s: %w", o.file, o.Kind, err)
		}
	}
	for kind := range targets {
		if seen[kind] != 1 {
			return k, fmt.Errorf("%d %s objects, want exactly 1", seen[kind], kind)
		}
	}
	return k, nil
}

// checkKubernetesFiles wants kustomization.yaml to list every manifest but the
// examples, and only files that exist.
func checkKubernetesFiles(dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return []string{err.Error()}
	}
	var kust struct {
		Resources []string `yaml:"resources"`
	}
	if err := yaml.Unmarshal(b, &kust); err != nil {
		return []string{"kustomization.yaml: " + err.Error()}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	var problems []string
	for _, file := range files {
		name := filepath.Base(file)
		listed := slices.Contains(kust.Resources, name)
		switch {
		case name == "kustomization.yaml":
		case strings.HasSuffix(name, ".example.yaml") && listed:
			problems = append(problems, "kustomization.yaml lists "+name+": applying it would overwrite real values with placeholders")
		case !strings.HasSuffix(name, ".example.yaml") && !listed:
			problems = append(problems, "kustomization.yaml does not list "+name)
		}
	}
	for _, r := range kust.Resources {
		if _, err := os.Stat(filepath.Join(dir, r)); err != nil {
			problems = append(problems, "kustomization.yaml lists missing "+r)
		}
	}
	return problems
}

func checkKubernetes(k kubernetes, f facts) []string {
	var problems []string
	for _, o := range k.objects {
		if o.Metadata.Namespace != "" {
			problems = append(problems, fmt.Sprintf("%s: %s %s sets namespace %q; the manifests are namespace-agnostic", o.file, o.Kind, o.Metadata.Name, o.Metadata.Namespace))
		}
	}
	d := k.deployment.Spec
	pod := d.Template.Spec
	podLabels := d.Template.Metadata.Labels
	if len(pod.Containers) != 1 {
		return append(problems, fmt.Sprintf("Deployment: %d containers, want 1 (billingd)", len(pod.Containers)))
	}
	c := pod.Containers[0]

	if valueOr(d.Replicas, 1) < 2 {
		problems = append(problems, fmt.Sprintf("Deployment: replicas %d, want at least 2", valueOr(d.Replicas, 1)))
	}
	if ru := d.Strategy.RollingUpdate; d.Strategy.Type != "RollingUpdate" || ru.MaxUnavailable != "0" || ru.MaxSurge == "" || ru.MaxSurge == "0" {
		problems = append(problems, fmt.Sprintf("Deployment: strategy %+v, want RollingUpdate with maxUnavailable 0 and a maxSurge", d.Strategy))
	}
	problems = append(problems, checkSelector("Deployment selector", d.Selector.MatchLabels, podLabels)...)

	env, envProblems := k.containerEnv(c, f)
	problems = append(problems, envProblems...)
	cfg, loadProblems := f.checkEnvironment("Deployment env", env)
	problems = append(problems, loadProblems...)

	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http"] != cfg.Port {
		problems = append(problems, fmt.Sprintf("Deployment: containerPort named http is %d, but billingd listens on PORT %d", ports["http"], cfg.Port))
	}
	for _, p := range []struct {
		name  string
		probe *httpProbe
		want  string // "" when any route will do
	}{{"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}, {"startupProbe", c.StartupProbe, ""}} {
		problems = append(problems, checkProbe("Deployment "+p.name, p.probe, p.want, ports, cfg.Port, f)...)
	}
	for _, r := range []string{"requests.cpu", "requests.memory", "limits.memory"} {
		kind, name, _ := strings.Cut(r, ".")
		if (kind == "requests" && c.Resources.Requests[name] == "") || (kind == "limits" && c.Resources.Limits[name] == "") {
			problems = append(problems, "Deployment: resources."+r+" is not set")
		}
	}
	problems = append(problems, checkSecurity(pod.SecurityContext, c.SecurityContext)...)
	if pod.TerminationGracePeriodSeconds == nil {
		problems = append(problems, "Deployment: terminationGracePeriodSeconds is not set (default 30s)")
	} else {
		problems = append(problems, checkGrace("Deployment terminationGracePeriodSeconds", time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second, cfg)...)
	}

	problems = append(problems, checkService(k.service, podLabels, ports, cfg.Port)...)
	problems = append(problems, checkHPA(k.hpa, k.objects)...)
	problems = append(problems, checkSelector("PodDisruptionBudget selector", k.pdb.Spec.Selector.MatchLabels, podLabels)...)
	if k.pdb.Spec.MinAvailable != "1" {
		problems = append(problems, fmt.Sprintf("PodDisruptionBudget: minAvailable %q, want 1", k.pdb.Spec.MinAvailable))
	}
	return problems
}

// containerEnv is the environment the container gets, with secrets taken from
// the example Secret; it reports sources the binary does not read and secrets
// not read from a Secret.
func (k kubernetes) containerEnv(c container, f facts) (map[string]string, []string) {
	var problems []string
	env := map[string]string{}
	fromSecret := map[string]bool{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			data, ok := k.configMaps[from.ConfigMapRef.Name]
			if !ok {
				problems = append(problems, "Deployment: envFrom names missing ConfigMap "+from.ConfigMapRef.Name)
			}
			for name, v := range data {
				env[name] = v
			}
		default:
			problems = append(problems, "Deployment: envFrom other than a configMapRef; set secrets one by one with secretKeyRef")
		}
	}
	for _, e := range c.Env {
		switch {
		case e.Value != nil:
			env[e.Name] = *e.Value
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := k.secrets[ref.Name][ref.Key]
			if !ok {
				problems = append(problems, fmt.Sprintf("Deployment: %s reads key %s of Secret %s, which the example Secret does not document", e.Name, ref.Key, ref.Name))
			}
			env[e.Name] = v
			fromSecret[e.Name] = true
		default:
			problems = append(problems, "Deployment: env "+e.Name+" has no value or secretKeyRef")
		}
	}
	for _, name := range secretVariables {
		if _, set := env[name]; set && !fromSecret[name] {
			problems = append(problems, fmt.Sprintf("Deployment: %s is a literal or ConfigMap value; it must come from a secretKeyRef", name))
		}
	}
	return env, problems
}

func checkSelector(where string, selector, podLabels map[string]string) []string {
	if len(selector) == 0 {
		return []string{where + " is empty"}
	}
	for k, v := range selector {
		if podLabels[k] != v {
			return []string{fmt.Sprintf("%s %s=%s does not match the Deployment's pod labels %v", where, k, v, podLabels)}
		}
	}
	return nil
}

// resolvePort reads a numeric or named container port.
func resolvePort(port string, named map[string]int) int {
	if n, err := strconv.Atoi(port); err == nil {
		return n
	}
	return named[port]
}

func checkProbe(where string, p *httpProbe, wantPath string, ports map[string]int, listen int, f facts) []string {
	if p == nil {
		if wantPath == "" {
			return nil
		}
		return []string{where + " is not set"}
	}
	if p.HTTPGet == nil {
		return []string{where + ": want an httpGet probe"}
	}
	var problems []string
	if wantPath != "" && p.HTTPGet.Path != wantPath {
		problems = append(problems, fmt.Sprintf("%s: path %q, want %s", where, p.HTTPGet.Path, wantPath))
	}
	problems = append(problems, f.checkRoute(where, p.HTTPGet.Path)...)
	if got := resolvePort(p.HTTPGet.Port, ports); got != listen {
		problems = append(problems, fmt.Sprintf("%s: port %q is %d, but billingd listens on PORT %d", where, p.HTTPGet.Port, got, listen))
	}
	if p.HTTPGet.Scheme != "" && p.HTTPGet.Scheme != "HTTP" {
		problems = append(problems, fmt.Sprintf("%s: scheme %s; billingd serves plain HTTP", where, p.HTTPGet.Scheme))
	}
	return problems
}

// checkSecurity checks the container's effective security context: its own
// fields, else the pod's.
func checkSecurity(pod, c securityContext) []string {
	pick := func(own, pods *bool) bool { return valueOr(own, valueOr(pods, false)) }
	var problems []string
	if !pick(c.RunAsNonRoot, pod.RunAsNonRoot) {
		problems = append(problems, "Deployment securityContext: runAsNonRoot is not true")
	}
	if uid := valueOr(c.RunAsUser, valueOr(pod.RunAsUser, 0)); uid != nonrootUID {
		problems = append(problems, fmt.Sprintf("Deployment securityContext: runAsUser %d, want %d", uid, nonrootUID))
	}
	if !pick(c.ReadOnlyRootFilesystem, pod.ReadOnlyRootFilesystem) {
		problems = append(problems, "Deployment securityContext: readOnlyRootFilesystem is not true")
	}
	if valueOr(c.AllowPrivilegeEscalation, true) {
		problems = append(problems, "Deployment securityContext: allowPrivilegeEscalation is not false")
	}
	if !slices.Equal(c.Capabilities.Drop, []string{"ALL"}) {
		problems = append(problems, fmt.Sprintf("Deployment securityContext: capabilities.drop %v, want [ALL]", c.Capabilities.Drop))
	}
	if c.SeccompProfile.Type != "RuntimeDefault" && pod.SeccompProfile.Type != "RuntimeDefault" {
		problems = append(problems, "Deployment securityContext: seccompProfile is not RuntimeDefault")
	}
	return problems
}

func checkService(s service, podLabels map[string]string, ports map[string]int, listen int) []string {
	problems := checkSelector("Service selector", s.Spec.Selector, podLabels)
	if s.Spec.Type != "" && s.Spec.Type != "ClusterIP" {
		problems = append(problems, fmt.Sprintf("Service: type %s, want ClusterIP", s.Spec.Type))
	}
	if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Port != 80 {
		return append(problems, fmt.Sprintf("Service: ports %+v, want one, port 80", s.Spec.Ports))
	}
	if target := s.Spec.Ports[0].TargetPort; resolvePort(target, ports) != listen {
		problems = append(problems, fmt.Sprintf("Service: targetPort %q is not the container's port %d", target, listen))
	}
	return problems
}

func checkHPA(h hpa, objs []object) []string {
	var problems []string
	target := h.Spec.ScaleTargetRef
	if !slices.ContainsFunc(objs, func(o object) bool { return o.Kind == target.Kind && o.Metadata.Name == target.Name }) || target.Kind != "Deployment" {
		problems = append(problems, fmt.Sprintf("HorizontalPodAutoscaler: scales %s %q, which is not the Deployment", target.Kind, target.Name))
	}
	if minimum := valueOr(h.Spec.MinReplicas, 1); minimum < 2 || h.Spec.MaxReplicas < minimum {
		problems = append(problems, fmt.Sprintf("HorizontalPodAutoscaler: replicas %d…%d, want a minimum of at least 2", minimum, h.Spec.MaxReplicas))
	}
	if !slices.ContainsFunc(h.Spec.Metrics, func(m hpaMetric) bool { return m.Resource != nil && m.Resource.Name == "cpu" }) {
		problems = append(problems, "HorizontalPodAutoscaler: no CPU target")
	}
	for _, o := range objs {
		if o.Kind == "HorizontalPodAutoscaler" && o.APIVersion != "autoscaling/v2" {
			problems = append(problems, "HorizontalPodAutoscaler: apiVersion "+o.APIVersion+", want autoscaling/v2")
		}
		if o.Kind == "PodDisruptionBudget" && o.APIVersion != "policy/v1" {
			problems = append(problems, "PodDisruptionBudget: apiVersion "+o.APIVersion+", want policy/v1")
		}
	}
	return problems
}

func TestManifestChecks(t *testing.T) {
	f := binaryFacts(t)
	billingd := func(k *kubernetes) *container { return &k.deployment.Spec.Template.Spec.Containers[0] }
	setEnv := func(k *kubernetes, name, value string) {
		c := billingd(k)
		for i := range c.Env {
			if c.Env[i].Name == name {
				c.Env[i].ValueFrom, c.Env[i].Value = nil, &value
			}
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(k *kubernetes)
		want   string
	}{
		{"ErrNamespace", func(k *kubernetes) { k.objects[0].Metadata.Namespace = "billing" }, "namespace-agnostic"},
		{"ErrOneReplica", func(k *kubernetes) { one := 1; k.deployment.Spec.Replicas = &one }, "replicas 1"},
		{"ErrMaxUnavailable", func(k *kubernetes) { k.deployment.Spec.Strategy.RollingUpdate.MaxUnavailable = "1" }, "maxUnavailable 0"},
		{"ErrUnknownVariable", func(k *kubernetes) { k.configMaps["billingd"]["LOGLEVEL"] = "info" }, "LOGLEVEL, which billingd does not read"},
		{"ErrBadValue", func(k *kubernetes) { k.configMaps["billingd"]["POLL_RATE_LIMIT"] = "600 per minute" }, "refuses this configuration"},
		{"ErrLiteralSecret", func(k *kubernetes) { setEnv(k, "STRIPE_SECRET_KEY", "sk_test_123") }, "STRIPE_SECRET_KEY is a literal"},
		{"ErrSecretInConfigMap", func(k *kubernetes) {
			k.configMaps["billingd"]["AUTH_JWT_SECRET"] = strings.Repeat("x", 32)
			c := billingd(k)
			c.Env = slices.DeleteFunc(c.Env, func(e envVar) bool { return e.Name == "AUTH_JWT_SECRET" })
		}, "AUTH_JWT_SECRET is a literal or ConfigMap value"},
		{"ErrMissingRequired", func(k *kubernetes) { c := billingd(k); c.Env = c.Env[1:] }, "does not set DATABASE_URL"},
		{"ErrUndocumentedSecretKey", func(k *kubernetes) { billingd(k).Env[0].ValueFrom.SecretKeyRef.Key = "DB_URL" }, "does not document"},
		{"ErrReadinessPath", func(k *kubernetes) { billingd(k).ReadinessProbe.HTTPGet.Path = "/healthz" }, `path "/healthz", want /readyz`},
		{"ErrProbeRoute", func(k *kubernetes) { billingd(k).StartupProbe.HTTPGet.Path = "/health" }, `probes "/health"`},
		{"ErrNoLiveness", func(k *kubernetes) { billingd(k).LivenessProbe = nil }, "livenessProbe is not set"},
		{"ErrProbePort", func(k *kubernetes) { billingd(k).LivenessProbe.HTTPGet.Port = "9090" }, `port "9090" is 9090`},
		{"ErrContainerPort", func(k *kubernetes) { k.configMaps["billingd"]["PORT"] = "9090" }, "billingd listens on PORT 9090"},
		{"ErrNoMemoryLimit", func(k *kubernetes) { delete(billingd(k).Resources.Limits, "memory") }, "limits.memory"},
		{"ErrRoot", func(k *kubernetes) {
			zero := 0
			billingd(k).SecurityContext.RunAsUser = &zero
		}, "runAsUser 0"},
		{"ErrWritableRoot", func(k *kubernetes) { billingd(k).SecurityContext.ReadOnlyRootFilesystem = nil }, "readOnlyRootFilesystem"},
		{"ErrEscalation", func(k *kubernetes) { billingd(k).SecurityContext.AllowPrivilegeEscalation = nil }, "allowPrivilegeEscalation"},
		{"ErrCapabilities", func(k *kubernetes) { billingd(k).SecurityContext.Capabilities.Drop = nil }, "capabilities.drop"},
		{"ErrSeccomp", func(k *kubernetes) { k.deployment.Spec.Template.Spec.SecurityContext.SeccompProfile.Type = "" }, "seccompProfile"},
		{"ErrGrace", func(k *kubernetes) {
			thirty := 30
			k.deployment.Spec.Template.Spec.TerminationGracePeriodSeconds = &thirty
		}, "grace period 30s"},
		{"ErrServiceTarget", func(k *kubernetes) { k.service.Spec.Ports[0].TargetPort = "80" }, "targetPort"},
		{"ErrServiceSelector", func(k *kubernetes) { k.service.Spec.Selector = map[string]string{"app": "billing"} }, "Service selector app=billing"},
		{"ErrHPAMin", func(k *kubernetes) { one := 1; k.hpa.Spec.MinReplicas = &one }, "minimum of at least 2"},
		{"ErrHPATarget", func(k *kubernetes) { k.hpa.Spec.ScaleTargetRef.Name = "billing" }, "not the Deployment"},
		{"ErrPDBSelector", func(k *kubernetes) {
			k.pdb.Spec.Selector.MatchLabels = map[string]string{"app.kubernetes.io/name": "billing"}
		}, "PodDisruptionBudget selector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := mustLoadKubernetes(t, kubernetesDir)
			tc.mutate(&k)
			expectProblem(t, checkKubernetes(k, f), tc.want)
		})
	}

	// A tiny manifest written by hand, through the parser: a Deployment that
	// gets nearly everything wrong.
	t.Run("ErrTinyManifest", func(t *testing.T) {
		objs, err := parseKubernetes("tiny.yaml", strings.NewReader(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: billingd, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: billingd}}
  template:
    metadata: {labels: {app: billingd}}
    spec:
      containers:
        - name: billingd
          ports: [{name: http, containerPort: 8080}]
          env:
            - {name: STRIPE_SECRET_KEY, value: sk_test_123}
            - {name: STRIPE_WEBHOOK_SECRET, value: whsec_123}
            - {name: STRIPE_TIMEOUT, value: 10s}
          livenessProbe: {httpGet: {path: /health, port: 8080}}
---
apiVersion: v1
kind: Service
metadata: {name: billingd}
spec: {selector: {app: billingd}, ports: [{port: 80, targetPort: 8000}]}
---
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: billingd}
spec: {scaleTargetRef: {kind: Deployment, name: billingd}, minReplicas: 1, maxReplicas: 3}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: billingd}
spec: {minAvailable: 1, selector: {matchLabels: {app: other}}}
`))
		if err != nil {
			t.Fatal(err)
		}
		k, err := newKubernetes(objs)
		if err != nil {
			t.Fatal(err)
		}
		problems := checkKubernetes(k, f)
		for _, want := range []string{
			"namespace-agnostic", "replicas 1", "STRIPE_TIMEOUT", "does not set DATABASE_URL",
			"STRIPE_SECRET_KEY is a literal", "readinessProbe is not set", `probes "/health"`,
			"resources.requests.cpu", "runAsNonRoot", "terminationGracePeriodSeconds is not set",
			"targetPort", "minimum of at least 2", "no CPU target", "want autoscaling/v2", "PodDisruptionBudget selector",
		} {
			expectProblem(t, problems, want)
		}
	})

	t.Run("ErrKustomizationListsExample", func(t *testing.T) {
		dir := t.TempDir()
		for name, text := range map[string]string{
			"kustomization.yaml":  "resources: [secret.example.yaml, gone.yaml]\n",
			"secret.example.yaml": "kind: Secret\n",
			"deployment.yaml":     "kind: Deployment\n",
		} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		problems := checkKubernetesFiles(dir)
		for _, want := range []string{"lists secret.example.yaml", "does not list deployment.yaml", "lists missing gone.yaml"} {
			expectProblem(t, problems, want)
		}
	})
}
