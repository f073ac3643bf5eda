package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
)

// result is what one kustomization rendered to and what is wrong with it.
type result struct {
	kustomization string
	objects       int
	problems      []problem
}

// check renders and checks every kustomization under root. An error is a failure to read the
// folder; a kustomization that does not render is a problem of that kustomization.
func check(root string) ([]result, error) {
	t, err := loadTree(root)
	if err != nil {
		return nil, err
	}
	cwd, _ := filepath.Abs(".")
	var results []result
	for _, dir := range t.kustomizations {
		name, err := filepath.Rel(cwd, dir)
		if err != nil {
			name = dir
		}
		results = append(results, checkOne(t, dir, name, cwd))
	}
	return results, nil
}

func checkOne(t *tree, dir, name, cwd string) result {
	r := result{kustomization: name}
	out, err := t.render(dir)
	if err != nil {
		r.problems = append(r.problems, problem{filepath.Join(name, "kustomization.yaml"), "build", err.Error()})
		return r
	}
	// Origins are relative to the kustomization; problems name files from where the check runs.
	for i, o := range out {
		if o.origin == generated {
			continue
		}
		if rel, err := filepath.Rel(cwd, filepath.Join(dir, o.origin)); err == nil {
			out[i].origin = rel
		}
	}
	r.objects = len(out)
	var decoded []object
	for _, o := range out {
		obj, err := decode(o.json)
		if err != nil {
			r.problems = append(r.problems, problem{o.origin, describe(o.json), err.Error()})
		}
		if obj != nil {
			decoded = append(decoded, object{o.origin, obj})
		}
	}
	r.problems = append(r.problems, rules(decoded)...)
	return r
}

// describe names an object that did not decode, from the fields every object has.
func describe(data []byte) string {
	var head struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return "(unreadable object)"
	}
	return fmt.Sprintf("%s %s/%s", head.Kind, head.Metadata.Namespace, head.Metadata.Name)
}
