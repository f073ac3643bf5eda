// Command envoy-input-ref prints, for every <case>-in.json request in a directory, the
// parsed_path, parsed_query, parsed_body and truncated_body that opa-envoy-plugin computes, or the
// error that makes the plugin refuse the check request. It mirrors two functions of
// opa-envoy-plugin's envoyauth/request.go (v1.13.2-envoy-2 and later), using the same standard
// library so Warden's golden files are checked against Go's own net/url, mime and encoding/json:
//
//   - getParsedPathAndQuery: cut at the first "?", url.PathUnescape, trim leading "/", split on
//     "/"; url.ParseQuery; any error is fatal.
//   - getParsedBody (without gRPC, which needs descriptors): x-envoy-auth-partial-body,
//     content-length against the body, JSON (numbers kept exact), form, multipart/form-data.
//
// Headers are built as Envoy gives them to ext_authz: names lower-cased, repeats joined with ",".
//
//	cd tools && go run ./cmd/envoy-input-ref ../libs/policy-engine/testdata/envoy-input \
//	  > ../libs/policy-engine/testdata/envoy-input/reference.json \
//	  && npx prettier --write ../libs/policy-engine/testdata/envoy-input/reference.json
//
// It uses the standard library only, so it builds in this module without touching go.mod.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// parse returns {"parsed_path", "parsed_query"} or {"error"}.
func parse(path string) map[string]any {
	rawPath, rawQuery, _ := strings.Cut(path, "?")
	decoded, err := url.PathUnescape(rawPath)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	return map[string]any{"parsed_path": strings.Split(strings.TrimLeft(decoded, "/"), "/"), "parsed_query": query}
}

func unmarshalJSON(text string) (any, error) {
	var v any
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after JSON value")
	}
	return v, nil
}

func truncated(headers map[string]string, body string) (bool, error) {
	val, ok := headers["content-length"]
	if !ok {
		return false, nil
	}
	cl, err := strconv.ParseInt(val, 10, 64)
	if err != nil {
		return false, err
	}
	return cl != -1 && cl > int64(len(body)), nil
}

// body returns (parsed_body, truncated_body, error).
func body(headers map[string]string, body string) (any, bool, error) {
	if headers["x-envoy-auth-partial-body"] == "true" {
		return nil, true, nil
	}
	ct, ok := headers["content-type"]
	if !ok || body == "" {
		return nil, false, nil
	}
	switch {
	case strings.Contains(ct, "application/json"):
		if t, err := truncated(headers, body); err != nil || t {
			return nil, t, err
		}
		v, err := unmarshalJSON(body)
		return v, false, err
	case strings.Contains(ct, "application/grpc"):
		return nil, false, nil
	case strings.Contains(ct, "application/x-www-form-urlencoded"):
		if t, err := truncated(headers, body); err != nil || t {
			return nil, t, err
		}
		v, err := url.ParseQuery(body)
		if err != nil {
			return nil, false, err
		}
		return v, false, nil
	case strings.Contains(ct, "multipart/form-data"):
		if t, err := truncated(headers, body); err != nil || t {
			return nil, t, err
		}
		_, params, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, false, err
		}
		boundary, ok := params["boundary"]
		if !ok {
			return nil, false, nil
		}
		values := map[string][]any{}
		mr := multipart.NewReader(strings.NewReader(body), boundary)
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, false, err
			}
			name := p.FormName()
			if name == "" {
				continue
			}
			value, err := io.ReadAll(p)
			if err != nil {
				return nil, false, err
			}
			if strings.Contains(p.Header.Get("Content-Type"), "application/json") {
				v, err := unmarshalJSON(string(value))
				if err != nil {
					return nil, false, err
				}
				values[name] = append(values[name], v)
			} else {
				values[name] = append(values[name], string(value))
			}
		}
		return values, false, nil
	}
	return nil, false, nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: envoy-input-ref <dir with *-in.json>")
		os.Exit(2)
	}
	files, err := filepath.Glob(filepath.Join(os.Args[1], "*-in.json"))
	if err != nil {
		panic(err)
	}
	sort.Strings(files)
	out := map[string]map[string]any{}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			panic(err)
		}
		var req struct {
			HTTP *struct {
				Path    string                     `json:"path"`
				Headers map[string]json.RawMessage `json:"headers"`
				Body    string                     `json:"body"`
			} `json:"http"`
		}
		if err := json.Unmarshal(text, &req); err != nil {
			panic(fmt.Errorf("%s: %w", f, err))
		}
		name := strings.TrimSuffix(filepath.Base(f), "-in.json")
		if req.HTTP == nil {
			out[name] = map[string]any{"parsed_path": []string{""}, "parsed_query": map[string]any{}, "parsed_body": nil, "truncated_body": false}
			continue
		}
		r := parse(req.HTTP.Path)
		if r["error"] == nil {
			headers := map[string]string{}
			names := make([]string, 0, len(req.HTTP.Headers))
			for k := range req.HTTP.Headers {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				var values []string
				raw := req.HTTP.Headers[k]
				if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
					_ = json.Unmarshal(raw, &values)
				} else {
					var v string
					_ = json.Unmarshal(raw, &v)
					values = []string{v}
				}
				key := strings.ToLower(k)
				if prior, ok := headers[key]; ok {
					headers[key] = prior + "," + strings.Join(values, ",")
				} else {
					headers[key] = strings.Join(values, ",")
				}
			}
			parsed, trunc, err := body(headers, req.HTTP.Body)
			if err != nil {
				r = map[string]any{"error": err.Error()}
			} else {
				r["parsed_body"] = parsed
				r["truncated_body"] = trunc
			}
		}
		out[name] = r
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}
