package generator

import (
	"strconv"
	"time"
)

func itoa(n int) string { return strconv.Itoa(n) }

func testOptions(seed int64) Options {
	return Options{
		Seed:           seed,
		Catalog:        DefaultCatalog(),
		Customers:      5000,
		MaxItems:       5,
		MaxQuantity:    5,
		PopularitySkew: 1.1,
		BasketDecay:    0.45,
		QuantityDecay:  0.3,
		Clock: Clock{
			Simulated: true,
			Start:     time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC),
			Speed:     1,
			Rate:      100,
		},
	}
}
