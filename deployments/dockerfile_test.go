package deployments_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

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
