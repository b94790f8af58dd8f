package api_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestGeneratedCodeIsUpToDate regenerates the code from ../openapi.yaml into a
// temporary directory and fails when it differs from the committed files, so
// that a contract change without `go generate ./api/` cannot pass CI.
func TestGeneratedCodeIsUpToDate(t *testing.T) {
	for _, cfg := range []string{"cfg.yaml", "server.cfg.yaml"} {
		t.Run(cfg, func(t *testing.T) {
			committed, generated := regenerate(t, cfg)
			want, err := os.ReadFile(committed)
			if err != nil {
				t.Fatalf("read committed %s: %v", committed, err)
			}
			got, err := os.ReadFile(generated)
			if err != nil {
				t.Fatalf("read regenerated %s: %v", committed, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("api/%s is stale: openapi.yaml or api/%s changed without regeneration; run `go generate ./api/` and commit the result", committed, cfg)
			}
		})
	}
}

// regenerate runs oapi-codegen with a copy of config cfg whose output points into
// a temporary directory. It returns the committed output's path (relative to
// this package) and the fresh output's path.
func regenerate(t *testing.T, cfg string) (committed, generated string) {
	t.Helper()
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatalf("read %s: %v", cfg, err)
	}
	var conf map[string]any
	if err := yaml.Unmarshal(raw, &conf); err != nil {
		t.Fatalf("parse %s: %v", cfg, err)
	}
	committed, ok := conf["output"].(string)
	if !ok || committed == "" {
		t.Fatalf("%s has no output file", cfg)
	}
	dir := t.TempDir()
	generated = filepath.Join(dir, filepath.Base(committed))
	conf["output"] = generated
	raw, err = yaml.Marshal(conf)
	if err != nil {
		t.Fatalf("marshal config: %v", err)
	}
	tmpCfg := filepath.Join(dir, cfg)
	if err := os.WriteFile(tmpCfg, raw, 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}

	cmd := exec.Command("go", "tool", "oapi-codegen", "--config="+tmpCfg, "../openapi.yaml")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return committed, generated
}
