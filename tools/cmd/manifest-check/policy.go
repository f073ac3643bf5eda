package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// object is a decoded object and where it came from.
type object struct {
	origin string
	obj    runtime.Object
}

// workload is a Deployment, StatefulSet or DaemonSet, reduced to what the rules look at.
type workload struct {
	origin, kind, namespace, name string
	template                      corev1.PodTemplateSpec
}

func (w workload) String() string { return fmt.Sprintf("%s %s/%s", w.kind, w.namespace, w.name) }

// clusterScoped are the kinds that take no namespace, of those the rules know.
var clusterScoped = []string{"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}

// problem is one broken rule, naming the file and the object.
type problem struct {
	origin, object, text string
}

func (p problem) String() string { return fmt.Sprintf("%s: %s: %s", p.origin, p.object, p.text) }

// rules checks our own policy over one kustomization's decoded output: every container probed,
// limited and locked down; every workload with a ServiceAccount of its own, selected by a
// NetworkPolicy that allows its flows and (but DaemonSets) a PodDisruptionBudget; every namespace
// denying by default; no Secret with data.
func rules(objects []object) []problem {
	var (
		problems   []problem
		workloads  []workload
		accounts   = map[string]bool{}
		bound      = map[string]bool{}
		netpols    []*networkingv1.NetworkPolicy
		pdbs       []*policyv1.PodDisruptionBudget
		namespaces = map[string]string{}
		enforced   = map[string]string{}
		namespaced = map[string]string{}
	)
	for _, o := range objects {
		meta, ok := o.obj.(v1.Object)
		if !ok {
			continue
		}
		kind := o.obj.GetObjectKind().GroupVersionKind().Kind
		id := fmt.Sprintf("%s %s/%s", kind, meta.GetNamespace(), meta.GetName())
		if slices.Contains(clusterScoped, kind) {
			if meta.GetNamespace() != "" {
				problems = append(problems, problem{o.origin, id, "a cluster-scoped kind with a namespace"})
			}
		} else if meta.GetNamespace() == "" {
			problems = append(problems, problem{o.origin, id, "no namespace"})
		} else {
			namespaced[meta.GetNamespace()] = o.origin
		}
		switch v := o.obj.(type) {
		case *corev1.Namespace:
			namespaces[v.Name] = o.origin
			enforced[v.Name] = v.Labels[enforceLabel]
		case *appsv1.Deployment:
			workloads = append(workloads, workload{o.origin, kind, v.Namespace, v.Name, v.Spec.Template})
		case *appsv1.StatefulSet:
			workloads = append(workloads, workload{o.origin, kind, v.Namespace, v.Name, v.Spec.Template})
		case *appsv1.DaemonSet:
			workloads = append(workloads, workload{o.origin, kind, v.Namespace, v.Name, v.Spec.Template})
		case *corev1.Pod, *appsv1.ReplicaSet:
			problems = append(problems, problem{o.origin, id, "a bare pod or ReplicaSet: run it from a Deployment, StatefulSet or DaemonSet"})
		case *corev1.ServiceAccount:
			accounts[v.Namespace+"/"+v.Name] = true
		case *rbacv1.RoleBinding:
			for _, s := range v.Subjects {
				if s.Kind == rbacv1.ServiceAccountKind {
					bound[s.Namespace+"/"+s.Name] = true
				}
			}
		case *rbacv1.ClusterRoleBinding:
			for _, s := range v.Subjects {
				if s.Kind == rbacv1.ServiceAccountKind {
					bound[s.Namespace+"/"+s.Name] = true
				}
			}
		case *networkingv1.NetworkPolicy:
			netpols = append(netpols, v)
		case *policyv1.PodDisruptionBudget:
			pdbs = append(pdbs, v)
		case *corev1.Secret:
			if len(v.Data) > 0 || len(v.StringData) > 0 {
				problems = append(problems, problem{o.origin, id, "a Secret with data: key material is created in the cluster, never committed"})
			}
		}
	}
	for _, ns := range slices.Sorted(maps.Keys(namespaced)) {
		origin := namespaced[ns]
		if !hasDefaultDeny(netpols, ns) {
			problems = append(problems, problem{origin, "namespace " + ns, "no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)"})
		}
		if _, ok := namespaces[ns]; !ok && len(namespaces) > 0 {
			problems = append(problems, problem{origin, "namespace " + ns, "used but not declared"})
		}
	}
	users := map[string][]string{}
	for _, w := range workloads {
		problems = append(problems, workloadRules(w, accounts, bound, netpols, pdbs)...)
		problems = append(problems, hostRules(w, enforced[w.namespace])...)
		if sa := w.template.Spec.ServiceAccountName; sa != "" {
			users[w.namespace+"/"+sa] = append(users[w.namespace+"/"+sa], w.String())
		}
	}
	for _, w := range workloads {
		sa := w.namespace + "/" + w.template.Spec.ServiceAccountName
		if others := users[sa]; len(others) > 1 {
			problems = append(problems, problem{w.origin, w.String(), fmt.Sprintf("ServiceAccount %s is shared by %s", sa, strings.Join(others, ", "))})
		}
	}
	return problems
}

func hasDefaultDeny(netpols []*networkingv1.NetworkPolicy, ns string) bool {
	return slices.ContainsFunc(netpols, func(p *networkingv1.NetworkPolicy) bool {
		return p.Namespace == ns && len(p.Spec.PodSelector.MatchLabels) == 0 &&
			len(p.Spec.PodSelector.MatchExpressions) == 0 &&
			slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) &&
			slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) &&
			len(p.Spec.Ingress) == 0 && len(p.Spec.Egress) == 0
	})
}

// selects reports whether a label selector picks the pod labels; an empty selector does not count
// here, since it selects every pod and names no flow of this one.
func selects(selector *v1.LabelSelector, ns string, pod labels.Set, selectorNs string) bool {
	if selectorNs != ns || selector == nil || (len(selector.MatchLabels) == 0 && len(selector.MatchExpressions) == 0) {
		return false
	}
	s, err := v1.LabelSelectorAsSelector(selector)
	return err == nil && s.Matches(pod)
}

// enforceLabel is the Pod Security level the API server admits pods of a namespace at.
const enforceLabel = "pod-security.kubernetes.io/enforce"

// hostRules: no pod shares the node's network, process or IPC namespaces, and a hostPath or host
// port only where the namespace's Pod Security level lets the pod in at all (restricted and
// baseline refuse both), so a pod the API server would refuse fails here first.
func hostRules(w workload, level string) []problem {
	var problems []problem
	add := func(format string, args ...any) {
		problems = append(problems, problem{w.origin, w.String(), fmt.Sprintf(format, args...)})
	}
	pod := w.template.Spec
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		add("shares the node's network, process or IPC namespace")
	}
	if level != "restricted" && level != "baseline" {
		return problems
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			add("volume %s is a hostPath, which the namespace's Pod Security level %s refuses", v.Name, level)
		}
	}
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				add("container %s: host port %d, which the namespace's Pod Security level %s refuses", c.Name, p.HostPort, level)
			}
		}
	}
	return problems
}

func workloadRules(w workload, accounts, bound map[string]bool, netpols []*networkingv1.NetworkPolicy, pdbs []*policyv1.PodDisruptionBudget) []problem {
	var problems []problem
	add := func(format string, args ...any) {
		problems = append(problems, problem{w.origin, w.String(), fmt.Sprintf(format, args...)})
	}
	pod := w.template.Spec
	podLabels := labels.Set(w.template.Labels)

	sa := pod.ServiceAccountName
	switch {
	case sa == "" || sa == "default":
		add("no ServiceAccount of its own (serviceAccountName is %q)", sa)
	case !accounts[w.namespace+"/"+sa]:
		add("ServiceAccount %s is not among the manifests", sa)
	}
	switch {
	case pod.AutomountServiceAccountToken == nil:
		add("automountServiceAccountToken is not set: say false, or true for a pod that calls the API")
	case *pod.AutomountServiceAccountToken && !bound[w.namespace+"/"+sa]:
		add("mounts an API token but no RoleBinding or ClusterRoleBinding grants its ServiceAccount %s anything", sa)
	}

	if !slices.ContainsFunc(netpols, func(p *networkingv1.NetworkPolicy) bool {
		return selects(&p.Spec.PodSelector, w.namespace, podLabels, p.Namespace)
	}) {
		add("no NetworkPolicy selects its pods (labels %s)", podLabels)
	}
	if w.kind != "DaemonSet" && !slices.ContainsFunc(pdbs, func(p *policyv1.PodDisruptionBudget) bool {
		return selects(p.Spec.Selector, w.namespace, podLabels, p.Namespace)
	}) {
		add("no PodDisruptionBudget selects its pods (labels %s)", podLabels)
	}

	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		for _, text := range containerRules(c, pod.SecurityContext) {
			add("container %s: %s", c.Name, text)
		}
	}
	return problems
}
