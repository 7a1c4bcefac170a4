package generator

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// Product is one catalog entry. A name has exactly one price in a catalog.
type Product struct {
	Name     string
	Category string
	Price    order.Cents
}

// DefaultCatalog is the built-in catalog: Brazilian e-commerce products with
// typical prices in BRL, best sellers first (popularity follows this order).
func DefaultCatalog() []Product {
	out := make([]Product, len(defaultCatalog))
	copy(out, defaultCatalog)
	return out
}

var defaultCatalog = []Product{
	{"Smartphone Samsung Galaxy A15 128GB", "Celulares", 109900},
	{"Fone de Ouvido Bluetooth JBL Tune 520BT", "Áudio", 24990},
	{"Air Fryer Mondial 4L", "Eletroportáteis", 39990},
	{"Smart TV LG 50\" 4K UHD", "TV e Vídeo", 249900},
	{"Notebook Dell Inspiron 15", "Informática", 349990},
	{"Cafeteira Nespresso Essenza Mini", "Eletroportáteis", 49900},
	{"Kit 3 Camisetas Básicas Algodão", "Moda", 8990},
	{"Tênis Nike Revolution 6", "Calçados", 29999},
	{"Echo Dot 5ª Geração Alexa", "Casa Inteligente", 37905},
	{"Smartphone Motorola Moto G84 256GB", "Celulares", 139900},
	{"iPhone 15 128GB", "Celulares", 529900},
	{"Mouse Sem Fio Logitech M170", "Informática", 5990},
	{"Teclado Mecânico Redragon Kumara", "Informática", 19990},
	{"Monitor Samsung 24\" Full HD", "Informática", 69900},
	{"Liquidificador Oster 1400W", "Eletroportáteis", 22990},
	{"Panela de Pressão Tramontina 4,5L", "Casa e Cozinha", 15990},
	{"Jogo de Panelas Antiaderente 5 Peças", "Casa e Cozinha", 27990},
	{"Jogo de Cama Casal 4 Peças Percal", "Cama, Mesa e Banho", 18990},
	{"Toalha de Banho Gigante Karsten", "Cama, Mesa e Banho", 5990},
	{"Ventilador de Mesa Arno 40cm", "Eletroportáteis", 18990},
	{"Aspirador Robô Multilaser", "Casa Inteligente", 89900},
	{"Geladeira Brastemp Frost Free 375L", "Eletrodomésticos", 399900},
	{"Micro-ondas Electrolux 31L", "Eletrodomésticos", 79990},
	{"Máquina de Lavar Consul 12kg", "Eletrodomésticos", 229900},
	{"Fritadeira Elétrica Philco 3,2L", "Eletroportáteis", 32990},
	{"Console PlayStation 5 Slim", "Games", 379900},
	{"Controle Sem Fio DualSense", "Games", 44990},
	{"Jogo EA Sports FC 25 PS5", "Games", 29990},
	{"Nintendo Switch OLED", "Games", 249990},
	{"Kindle 11ª Geração", "Livros e eBooks", 54900},
	{"Livro O Alquimista - Paulo Coelho", "Livros e eBooks", 3990},
	{"Livro Torto Arado - Itamar Vieira Junior", "Livros e eBooks", 5490},
	{"Whey Protein Growth 1kg", "Suplementos", 11990},
	{"Creatina Monohidratada 300g", "Suplementos", 8990},
	{"Perfume Malbec O Boticário 100ml", "Beleza", 21990},
	{"Protetor Solar Neutrogena FPS 70", "Beleza", 6990},
	{"Kit Shampoo e Condicionador Natura", "Beleza", 5990},
	{"Secador de Cabelo Taiff 2000W", "Beleza", 15990},
	{"Chinelo Havaianas Top", "Calçados", 4999},
	{"Mochila Samsonite Executiva", "Moda", 39990},
	{"Relógio Smartwatch Xiaomi Redmi Watch", "Relógios", 49990},
	{"Garrafa Térmica Stanley 1L", "Esporte e Lazer", 29990},
	{"Bicicleta Aro 29 Caloi", "Esporte e Lazer", 169900},
	{"Bola de Futebol Penalty Campo", "Esporte e Lazer", 12990},
	{"Camisa Seleção Brasileira Nike", "Esporte e Lazer", 34990},
	{"Cadeira Gamer ThunderX3", "Móveis", 119900},
	{"Escrivaninha Office 120cm", "Móveis", 34990},
	{"Colchão Casal Ortobom Molas", "Móveis", 149900},
	{"Furadeira de Impacto Bosch 650W", "Ferramentas", 32990},
	{"Jogo de Chaves Tramontina 40 Peças", "Ferramentas", 14990},
	{"Ração Golden Cães Adultos 15kg", "Pet Shop", 16990},
	{"Areia Higiênica Pipicat 12kg", "Pet Shop", 3990},
	{"Fralda Pampers Confort Sec G 60un", "Bebês", 8990},
	{"Carrinho de Bebê Burigotto", "Bebês", 89990},
	{"Café Pilão Tradicional 500g", "Mercado", 1899},
	{"Azeite Gallo Extra Virgem 500ml", "Mercado", 3499},
	{"Cerveja Heineken Lata 350ml 12un", "Bebidas", 5988},
	{"Vinho Tinto Miolo Seleção 750ml", "Bebidas", 4990},
	{"Caixa de Som JBL Flip 6", "Áudio", 69990},
	{"Soundbar Samsung 2.1 Canais", "Áudio", 89900},
	{"Tablet Samsung Galaxy Tab A9", "Informática", 99900},
	{"Impressora Multifuncional Epson EcoTank", "Informática", 109900},
	{"SSD Kingston 1TB NVMe", "Informática", 39990},
	{"Roteador Wi-Fi 6 TP-Link Archer", "Informática", 29990},
}

// ValidateCatalog checks that a catalog can be sold from: not empty, every
// name non-empty and with one positive price.
func ValidateCatalog(products []Product) error {
	if len(products) == 0 {
		return errors.New("catalog is empty: list at least one product")
	}
	seen := make(map[string]int, len(products))
	for i, p := range products {
		if p.Name == "" {
			return fmt.Errorf("catalog[%d]: nome is empty", i)
		}
		if p.Price <= 0 || p.Price > order.MaxUnitPrice {
			return fmt.Errorf("catalog[%d] %q: preco must be greater than 0 and at most %s, got %s", i, p.Name, order.MaxUnitPrice, p.Price)
		}
		if j, dup := seen[p.Name]; dup {
			if products[j].Price != p.Price {
				return fmt.Errorf("catalog[%d] %q: one name with two prices (%s at catalog[%d], %s here)", i, p.Name, products[j].Price, j, p.Price)
			}
			return fmt.Errorf("catalog[%d] %q: listed twice (also catalog[%d])", i, p.Name, j)
		}
		seen[p.Name] = i
	}
	return nil
}

// catalogEntry is a product as a user writes it in YAML or JSON.
type catalogEntry struct {
	Name     string    `yaml:"nome"`
	Category string    `yaml:"categoria"`
	Price    yaml.Node `yaml:"preco"`
}

// LoadCatalogFile reads a catalog from a YAML or JSON file: a list of
// {nome, categoria, preco}.
func LoadCatalogFile(path string) ([]Product, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading catalog file: %w", err)
	}
	var entries []catalogEntry
	if err := yaml.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("catalog file %s: %w", path, err)
	}
	out := make([]Product, 0, len(entries))
	for i, e := range entries {
		if e.Price.Kind != yaml.ScalarNode || e.Price.Value == "" {
			return nil, fmt.Errorf("catalog file %s: entry %d (%q): preco is missing or not a number", path, i, e.Name)
		}
		price, err := parsePrice(e.Price.Value)
		if err != nil {
			return nil, fmt.Errorf("catalog file %s: entry %d (%q): %w", path, i, e.Name, err)
		}
		out = append(out, Product{Name: e.Name, Category: e.Category, Price: price})
	}
	return out, nil
}

// parsePrice reads a price as written (3499.90) into centavos exactly.
func parsePrice(s string) (order.Cents, error) {
	c, err := order.ParseCents([]byte(s))
	if err != nil {
		return 0, fmt.Errorf("preco %q: %v", s, err)
	}
	return c, nil
}

// priceFromAny converts a price that Benthos parsed from YAML (an int, a
// float or a string) into centavos. A float is printed back in its shortest
// form, which is the decimal the user wrote, so no rounding happens.
func priceFromAny(v any) (order.Cents, error) {
	switch x := v.(type) {
	case int:
		return parsePrice(strconv.Itoa(x))
	case int64:
		return parsePrice(strconv.FormatInt(x, 10))
	case float64:
		return parsePrice(strconv.FormatFloat(x, 'f', -1, 64))
	case string:
		return parsePrice(x)
	case nil:
		return 0, errors.New("preco is missing")
	}
	return 0, fmt.Errorf("preco must be a number, got %T", v)
}
