package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// problemsOf copies testdata/good into a temporary folder with app.yaml changed by edit (nil: as
// it is), and returns the problems found there.
func problemsOf(t *testing.T, edit func(string) string) []string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"kustomization.yaml", "app.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", "good", name))
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		if name == "app.yaml" && edit != nil {
			edited := edit(text)
			if edited == text {
				t.Fatal("the edit changed nothing: the test would prove nothing")
			}
			text = edited
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	results, err := check(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 {
		t.Fatalf("one kustomization, got %d results", len(results))
	}
	var out []string
	for _, p := range results[0].problems {
		out = append(out, p.String())
	}
	return out
}

func replace(old, new string) func(string) string {
	return func(text string) string { return strings.Replace(text, old, new, 1) }
}

func TestGoodManifestsPass(t *testing.T) {
	if problems := problemsOf(t, nil); len(problems) != 0 {
		t.Fatalf("expected no problems, got:\n%s", strings.Join(problems, "\n"))
	}
}

func TestProblems(t *testing.T) {
	cases := []struct {
		name string
		edit func(string) string
		want string
	}{
		{"unknown field", replace("          image: example/app:1.0.0\n", "          image: example/app:1.0.0\n          imagePullPolice: Always\n"), `app.yaml: Deployment demo/app: apps/v1: strict decoding error: unknown field "spec.template.spec.containers[0].imagePullPolice"`},
		{"field of the wrong type", replace("maxUnavailable: 1", "maxUnavailable: [1]"), "app.yaml: PodDisruptionBudget demo/app"},
		{"missing liveness probe", replace("          livenessProbe:\n            httpGet:\n              path: /healthz\n              port: 9464\n", ""), "app.yaml: Deployment demo/app: container app: no livenessProbe"},
		{"missing readiness probe", replace("          readinessProbe:\n            httpGet:\n              path: /readyz\n              port: 9464\n", ""), "container app: no readinessProbe"},
		{"warden service probed elsewhere", func(text string) string {
			text = strings.Replace(text, "example/app:1.0.0", "warden/app:1.0.0", 1)
			return strings.Replace(text, "path: /readyz", "path: /healthz", 1)
		}, `container app: a Warden service's readinessProbe is not GET /readyz (got "/healthz")`},
		{"missing memory limit", replace("              cpu: 100m\n              memory: 64Mi\n", "              cpu: 100m\n"), "container app: no memory limit"},
		{"writable root", replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"), "container app: readOnlyRootFilesystem is not true"},
		{"privilege escalation", replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"), "container app: allowPrivilegeEscalation is not false"},
		{"capabilities kept", replace("drop: [ALL]", "drop: [NET_RAW]"), "container app: capabilities do not drop ALL"},
		{"root", replace("runAsUser: 1000", "runAsUser: 0"), "container app: runAsUser is not 1000"},
		{"no seccomp", replace("        seccompProfile:\n          type: RuntimeDefault\n", ""), "container app: seccompProfile is not RuntimeDefault"},
		{"latest image", replace("example/app:1.0.0", "example/app:latest"), "container app: image example/app:latest has no pinned tag"},
		{"default service account", replace("      serviceAccountName: app\n", ""), `no ServiceAccount of its own (serviceAccountName is "")`},
		{"token without a binding", replace("      automountServiceAccountToken: false\n", "      automountServiceAccountToken: true\n"), "mounts an API token but no RoleBinding or ClusterRoleBinding grants its ServiceAccount app anything"},
		{"no network policy", replace("  podSelector:\n    matchLabels:\n      app.kubernetes.io/name: app\n  policyTypes: [Ingress]", "  podSelector:\n    matchLabels:\n      app.kubernetes.io/name: other\n  policyTypes: [Ingress]"), "no NetworkPolicy selects its pods"},
		{"no default deny", replace("  podSelector: {}\n  policyTypes: [Ingress, Egress]", "  podSelector: {}\n  policyTypes: [Ingress]"), "namespace demo: no default-deny NetworkPolicy"},
		{"no disruption budget", replace("kind: PodDisruptionBudget\nmetadata:\n  name: app\n  namespace: demo", "kind: PodDisruptionBudget\nmetadata:\n  name: app\n  namespace: elsewhere"), "Deployment demo/app: no PodDisruptionBudget selects its pods"},
		{"hostPath in a restricted namespace", func(text string) string {
			text = strings.Replace(text, "kind: Namespace\nmetadata:\n  name: demo\n", "kind: Namespace\nmetadata:\n  name: demo\n  labels:\n    pod-security.kubernetes.io/enforce: restricted\n", 1)
			return text + "      volumes:\n        - name: node\n          hostPath:\n            path: /run/demo\n            type: Directory\n"
		}, "volume node is a hostPath, which the namespace's Pod Security level restricted refuses"},
		{"host network", replace("      automountServiceAccountToken: false\n      securityContext:", "      automountServiceAccountToken: false\n      hostNetwork: true\n      securityContext:"), "shares the node's network, process or IPC namespace"},
		{"secret with data", func(text string) string {
			return text + "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: key\n  namespace: demo\nstringData:\n  key: not-a-real-key\n"
		}, "Secret demo/key: a Secret with data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			problems := problemsOf(t, c.edit)
			for _, p := range problems {
				if strings.Contains(p, c.want) {
					return
				}
			}
			t.Fatalf("expected a problem containing %q, got:\n%s", c.want, strings.Join(problems, "\n"))
		})
	}
}

// A DaemonSet runs one pod per node, so a disruption budget does not apply to it.
func TestDaemonSetNeedsNoDisruptionBudget(t *testing.T) {
	problems := problemsOf(t, func(text string) string {
		text = strings.Replace(text, "kind: Deployment", "kind: DaemonSet", 1)
		return strings.Replace(text, "kind: PodDisruptionBudget\nmetadata:\n  name: app\n  namespace: demo", "kind: PodDisruptionBudget\nmetadata:\n  name: app\n  namespace: elsewhere", 1)
	})
	for _, p := range problems {
		if strings.Contains(p, "DaemonSet demo/app") {
			t.Fatalf("unexpected problem: %s", p)
		}
	}
}

func TestBrokenKustomizationIsAProblem(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources:\n  - missing.yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	results, err := check(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || len(results[0].problems) == 0 || !strings.Contains(results[0].problems[0].text, "missing.yaml") {
		t.Fatalf("expected the build to fail naming missing.yaml, got %+v", results)
	}
}

// The repository's own manifests: every kustomization under deploy/kubernetes renders and passes.
func TestRepositoryManifests(t *testing.T) {
	results, err := check(filepath.Join("..", "..", "..", "deploy", "kubernetes"))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < 2 {
		t.Fatalf("expected the base and its overlays, got %d kustomizations", len(results))
	}
	for _, r := range results {
		if r.objects == 0 {
			t.Errorf("%s rendered nothing", r.kustomization)
		}
		for _, p := range r.problems {
			t.Errorf("%s: %s", r.kustomization, p)
		}
	}
}
