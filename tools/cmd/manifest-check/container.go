package main

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// runAsUser is the uid every Warden image runs as (node in node:24-slim; deploy/Dockerfile).
const runAsUser = 1000

// wardenImages prefixes the images of Warden's own services, which all serve /healthz and /readyz
// on their ops port (libs/runtime).
const wardenImages = "warden/"

// containerRules checks one container, with the pod's security context as its default: probes,
// requests and limits, a pinned image, and what the restricted Pod Security level asks and more
// (non-root as uid 1000, read-only root file system, no privilege escalation, no capabilities,
// seccomp RuntimeDefault).
func containerRules(c corev1.Container, podSecurity *corev1.PodSecurityContext) []string {
	var problems []string
	if c.LivenessProbe == nil {
		problems = append(problems, "no livenessProbe")
	}
	if c.ReadinessProbe == nil {
		problems = append(problems, "no readinessProbe")
	}
	if strings.HasPrefix(c.Image, wardenImages) {
		if path := httpPath(c.LivenessProbe); c.LivenessProbe != nil && path != "/healthz" {
			problems = append(problems, fmt.Sprintf("a Warden service's livenessProbe is not GET /healthz (got %q)", path))
		}
		if path := httpPath(c.ReadinessProbe); c.ReadinessProbe != nil && path != "/readyz" {
			problems = append(problems, fmt.Sprintf("a Warden service's readinessProbe is not GET /readyz (got %q)", path))
		}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			problems = append(problems, fmt.Sprintf("no %s request", r))
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			problems = append(problems, fmt.Sprintf("no %s limit", r))
		}
	}
	if ref, tag := imageTag(c.Image); tag == "" || tag == "latest" {
		problems = append(problems, fmt.Sprintf("image %s has no pinned tag", ref))
	}

	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	if podSecurity == nil {
		podSecurity = &corev1.PodSecurityContext{}
	}
	// What the container runs with: its own settings, else the pod's.
	nonRoot := firstNonNil(sc.RunAsNonRoot, podSecurity.RunAsNonRoot)
	if nonRoot == nil || !*nonRoot {
		problems = append(problems, "runAsNonRoot is not true")
	}
	if user := firstNonNil(sc.RunAsUser, podSecurity.RunAsUser); user == nil || *user != runAsUser {
		problems = append(problems, fmt.Sprintf("runAsUser is not %d", runAsUser))
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		problems = append(problems, "readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		problems = append(problems, "allowPrivilegeEscalation is not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		problems = append(problems, "privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		problems = append(problems, "capabilities do not drop ALL")
	} else if len(sc.Capabilities.Add) > 0 {
		problems = append(problems, fmt.Sprintf("capabilities add %v", sc.Capabilities.Add))
	}
	seccomp := firstNonNil(sc.SeccompProfile, podSecurity.SeccompProfile)
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		problems = append(problems, "seccompProfile is not RuntimeDefault")
	}
	return problems
}

func httpPath(p *corev1.Probe) string {
	if p == nil || p.HTTPGet == nil {
		return ""
	}
	return p.HTTPGet.Path
}

func firstNonNil[T any](values ...*T) *T {
	for _, v := range values {
		if v != nil {
			return v
		}
	}
	return nil
}

// imageTag splits an image reference into the reference and its tag ("" for none; a digest pins too).
func imageTag(image string) (string, string) {
	if at := strings.LastIndex(image, "@"); at >= 0 {
		return image, image[at+1:]
	}
	name := image[strings.LastIndex(image, "/")+1:]
	if colon := strings.LastIndex(name, ":"); colon >= 0 {
		return image, name[colon+1:]
	}
	return image, ""
}
