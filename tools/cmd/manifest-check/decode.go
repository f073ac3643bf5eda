package main

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/kubernetes/scheme"
)

// strict decodes into the typed object client-go's scheme registers for the object's group,
// version and kind; an unknown or duplicate field, a wrong type or an unregistered kind is an error.
var strict = json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
	json.SerializerOptions{Strict: true})

// decode returns the typed object and the decoding error; after a strict error (an unknown or
// duplicate field) the object is still filled from the known fields, so the other rules see it.
func decode(data []byte) (runtime.Object, error) {
	obj, gvk, err := strict.Decode(data, nil, nil)
	if err != nil && gvk != nil && !gvk.Empty() {
		err = fmt.Errorf("%s: %w", gvk.GroupVersion().String(), err)
	}
	if err != nil && !runtime.IsStrictDecodingError(errors.Unwrap(err)) && !runtime.IsStrictDecodingError(err) {
		return nil, err
	}
	return obj, err
}
