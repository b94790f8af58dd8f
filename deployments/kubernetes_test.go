package deployments_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

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
	problems = append(problems, checkMemoryLimit(env["GOMEMLIMIT"], c.Resources.Limits["memory"])...)
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
		{"ErrGoMemLimitAboveLimit", func(k *kubernetes) { billingd(k).Resources.Limits["memory"] = "128Mi" }, "GOMEMLIMIT 200MiB is not below limits.memory 128Mi"},
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

// checkMemoryLimit: a GOMEMLIMIT at or above the container's memory limit
// would let the heap grow until the kernel kills the pod.
func checkMemoryLimit(goMemLimit, limit string) []string {
	if goMemLimit == "" {
		return nil
	}
	soft, okSoft := byteSize(goMemLimit, map[string]int64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30})
	hard, okHard := byteSize(limit, map[string]int64{"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30})
	switch {
	case !okSoft:
		return []string{fmt.Sprintf("Deployment: GOMEMLIMIT %q is not a size like 640MiB", goMemLimit)}
	case !okHard:
		return []string{fmt.Sprintf("Deployment: limits.memory %q is not a size like 768Mi", limit)}
	case soft >= hard:
		return []string{fmt.Sprintf("Deployment: GOMEMLIMIT %s is not below limits.memory %s", goMemLimit, limit)}
	}
	return nil
}

// byteSize parses a number with one of units' suffixes.
func byteSize(s string, units map[string]int64) (int64, bool) {
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	unit, ok := units[s[i:]]
	return n * unit, err == nil && ok
}
