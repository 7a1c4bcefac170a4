// Package config ships the pipeline configs inside the binary, so that
// `vendas-connect demo` runs anywhere, even where the YAML files are not.
package config

import "embed"

// Files holds every config of this folder (produce.yaml, consume.yaml, …).
//
//go:embed *.yaml
var Files embed.FS
