package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kustomizationNames are the file names kustomize reads a kustomization from.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// generated stands for the file of an object a generator made (it has no file of its own).
const generated = "(generated)"

// rendered is one object of a kustomization's output, with the file it came from.
type rendered struct {
	origin string
	json   []byte
}

// tree is a folder of kustomizations copied into memory, every kustomization asked to record where
// each object came from, so a problem names its file without the files on disk being changed.
type tree struct {
	fs             filesys.FileSystem
	kustomizations []string
}

func loadTree(root string) (*tree, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	memory := filesys.MakeFsInMemory()
	var found []string
	err = filepath.WalkDir(root, func(path string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if entry.IsDir() {
			return memory.MkdirAll(path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if slices.Contains(kustomizationNames, entry.Name()) {
			var isComponent bool
			data, isComponent, err = withOriginAnnotations(data)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			// A component only makes sense inside a kustomization that uses it.
			if !isComponent {
				found = append(found, filepath.Dir(path))
			}
		}
		return memory.WriteFile(path, data)
	})
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%s: no kustomization found", root)
	}
	slices.Sort(found)
	return &tree{fs: memory, kustomizations: found}, nil
}

// withOriginAnnotations adds buildMetadata: [originAnnotations] to a kustomization's text.
func withOriginAnnotations(data []byte) ([]byte, bool, error) {
	var k types.Kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		return nil, false, fmt.Errorf("not a valid kustomization: %w", err)
	}
	if !slices.Contains(k.BuildMetadata, types.OriginAnnotations) {
		k.BuildMetadata = append(k.BuildMetadata, types.OriginAnnotations)
	}
	out, err := yaml.Marshal(k)
	return out, k.Kind == types.ComponentKind, err
}

// render builds one kustomization of the tree as `kubectl apply -k` would (files under its root
// only, no plugins).
func (t *tree) render(dir string) ([]rendered, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(t.fs, dir)
	if err != nil {
		return nil, err
	}
	return objects(m)
}

func objects(m resmap.ResMap) ([]rendered, error) {
	var out []rendered
	for _, r := range m.Resources() {
		origin := generated
		if o, err := r.GetOrigin(); err == nil && o != nil && o.Path != "" {
			origin = o.Path
		}
		annotations := r.GetAnnotations()
		delete(annotations, "config.kubernetes.io/origin")
		if err := r.SetAnnotations(annotations); err != nil {
			return nil, err
		}
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", origin, err)
		}
		out = append(out, rendered{origin: origin, json: data})
	}
	return out, nil
}
