package main

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/kubernetes/scheme"
)

// strict decodes into the typed object client-go's scheme registers for the object's group,
// version and kind; an unknown or duplicate field, a wrong type or an unregistered kind is an error.
var strict = json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
	json.SerializerOptions{Strict: true})

func decode(data []byte) (runtime.Object, error) {
	obj, gvk, err := strict.Decode(data, nil, nil)
	if err != nil {
		if gvk != nil && !gvk.Empty() {
			return nil, fmt.Errorf("%s: %w", gvk.GroupVersion().String(), err)
		}
		return nil, err
	}
	return obj, nil
}
