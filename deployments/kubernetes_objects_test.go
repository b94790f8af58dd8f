package deployments_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// The Kubernetes manifests as the checks read them: the fields they look at,
// and how a kustomization directory is loaded.

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
