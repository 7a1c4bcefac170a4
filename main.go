// Command vendas-connect is a custom Benthos build that simulates an
// e-commerce sales stream on Kafka and aggregates it per product.
package main

import (
	"context"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	_ "github.com/vendas-connect/vendas-connect/plugins/aggregate"
	"github.com/vendas-connect/vendas-connect/plugins/demo"
	"github.com/vendas-connect/vendas-connect/plugins/devbroker"
	"github.com/vendas-connect/vendas-connect/plugins/docs"
	"github.com/vendas-connect/vendas-connect/plugins/gctune"
	_ "github.com/vendas-connect/vendas-connect/plugins/generator"
	_ "github.com/vendas-connect/vendas-connect/plugins/kafka"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

func main() {
	// A heap goal of at least 44 MiB instead of Go's default: see package
	// gctune. GOGC or GOMEMLIMIT in the environment turn it off.
	defer gctune.Start(gctune.DefaultMinHeap)()
	service.RunCLI(context.Background(),
		service.CLIOptSetBinaryName("vendas-connect"),
		service.CLIOptSetVersion(Version, ""),
		service.CLIOptAddCommand(devbroker.Command()),
		service.CLIOptAddCommand(demo.Command()),
		service.CLIOptAddCommand(docs.Command()),
	)
}
