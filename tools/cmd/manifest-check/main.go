// Command manifest-check renders every kustomization under a folder (the base and each overlay)
// with kustomize's krusty, decodes every rendered object strictly into the type client-go's
// scheme registers for it (an unknown field is an error), and checks Warden's own rules for
// workloads. It prints one line per problem, naming the file, the object and the problem, and
// exits 1 when there is any.
//
//	manifest-check deploy/kubernetes
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: manifest-check <folder of kustomizations>...")
		os.Exit(2)
	}
	failed := false
	for _, root := range os.Args[1:] {
		results, err := check(root)
		if err != nil {
			fmt.Fprintf(os.Stderr, "manifest-check: %v\n", err)
			os.Exit(2)
		}
		for _, r := range results {
			for _, p := range r.problems {
				fmt.Fprintf(os.Stderr, "%s: %s\n", r.kustomization, p)
			}
			if len(r.problems) > 0 {
				failed = true
			} else {
				fmt.Printf("ok %s (%d objects)\n", r.kustomization, r.objects)
			}
		}
	}
	if failed {
		os.Exit(1)
	}
}
