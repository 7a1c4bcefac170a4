// Package docs prints the reference of a component from its config spec,
// the one place where fields, defaults and examples are written down.
package docs

import (
	"fmt"
	"io"
	"strings"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/urfave/cli/v2"
)

// Command returns the `docs` subcommand.
func Command() *cli.Command {
	return &cli.Command{
		Name:      "docs",
		Usage:     "Print the full reference (fields, defaults, examples) of a component, as Markdown",
		ArgsUsage: "COMPONENT...",
		Description: `Prints the documentation built from a component's config spec:

  vendas-connect docs sales_orders
  vendas-connect docs sales_aggregate sales_report kafka_franz

A name used by several kinds of component (kafka_franz is an input and an
output) prints each of them.`,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return fmt.Errorf("name at least one component, such as sales_orders")
			}
			return Write(c.App.Writer, service.GlobalEnvironment(), c.Args().Slice()...)
		},
	}
}

// Write prints the docs of every component of env with one of names.
func Write(w io.Writer, env *service.Environment, names ...string) error {
	for _, name := range names {
		found := false
		emit := func(kind string) func(string, *service.ConfigView) {
			return func(n string, view *service.ConfigView) {
				if n != name {
					return
				}
				found = true
				data, err := view.TemplateData()
				if err != nil {
					fmt.Fprintf(w, "%s %s: %v\n", kind, name, err)
					return
				}
				render(w, kind, data)
			}
		}
		env.WalkInputs(emit("input"))
		env.WalkBuffers(emit("buffer"))
		env.WalkProcessors(emit("processor"))
		env.WalkOutputs(emit("output"))
		if !found {
			return fmt.Errorf("no component named %q: see vendas-connect list", name)
		}
	}
	return nil
}

// render writes one component's reference as Markdown. (Benthos'
// ConfigView.RenderDocs fails on its own template in v4.80.0.)
func render(w io.Writer, kind string, d service.TemplateDataPlugin) {
	fmt.Fprintf(w, "<!-- %s %s -->\n# %s (%s)\n\n%s\n\n", kind, d.Name, d.Name, kind, d.Summary)
	if d.Description != "" {
		fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(d.Description))
	}
	fmt.Fprintf(w, "## Config\n\n```yaml\n%s\n```\n\n", strings.TrimSpace(d.AdvancedConfigYAML))
	if len(d.Examples) > 0 {
		fmt.Fprintf(w, "## Examples\n\n")
		for _, e := range d.Examples {
			fmt.Fprintf(w, "### %s\n\n%s\n\n```yaml\n%s\n```\n\n", e.Title, strings.TrimSpace(e.Summary), strings.TrimSpace(e.Config))
		}
	}
	fmt.Fprintf(w, "## Fields\n\n")
	for _, f := range d.Fields {
		fmt.Fprintf(w, "### `%s`\n\n%s\n\n*Type*: `%s`", f.FullName, strings.TrimSpace(f.Description), f.Type)
		if f.DefaultMarshalled != "" {
			fmt.Fprintf(w, "  \n*Default*: `%s`", f.DefaultMarshalled)
		}
		if len(f.Options) > 0 {
			fmt.Fprintf(w, "  \n*Options*: `%s`", strings.Join(f.Options, "`, `"))
		}
		for _, o := range f.AnnotatedOptions {
			fmt.Fprintf(w, "  \n- `%s`: %s", o[0], o[1])
		}
		if len(f.ExamplesMarshalled) > 0 {
			fmt.Fprintf(w, "\n\n```yaml\n# Examples\n%s\n```", strings.Join(f.ExamplesMarshalled, "\n"))
		}
		fmt.Fprintf(w, "\n\n")
	}
}
