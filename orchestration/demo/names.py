"""Static vocabularies for the demo data: Brazilian places, people, pharmacies, medicines.

Company and brand names are invented; places, area codes, CEP ranges and active
ingredients are real so that the data reads like a Brazilian distributor's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UF:
    code: str
    population_m: float  # 2022 census, millions: the customer weight
    region: str  # N, NE, CO, SE, S
    area_codes: tuple[int, ...]
    cep_range: tuple[int, int]  # first five CEP digits
    cities: tuple[str, ...]  # capital first


UFS: tuple[UF, ...] = (
    UF("AC", 0.83, "N", (68,), (69900, 69999), ("Rio Branco", "Cruzeiro do Sul")),
    UF("AL", 3.13, "NE", (82,), (57000, 57999), ("Maceió", "Arapiraca", "Rio Largo")),
    UF("AP", 0.73, "N", (96,), (68900, 68999), ("Macapá", "Santana")),
    UF("AM", 3.94, "N", (92, 97), (69000, 69299), ("Manaus", "Parintins", "Itacoatiara")),
    UF("BA", 14.14, "NE", (71, 73, 74, 75, 77), (40000, 48999),
       ("Salvador", "Feira de Santana", "Vitória da Conquista", "Camaçari", "Itabuna", "Juazeiro")),
    UF("CE", 8.79, "NE", (85, 88), (60000, 63999), ("Fortaleza", "Caucaia", "Juazeiro do Norte", "Sobral")),
    UF("DF", 2.82, "CO", (61,), (70000, 72799), ("Brasília", "Taguatinga", "Ceilândia")),
    UF("ES", 3.83, "SE", (27, 28), (29000, 29999), ("Vitória", "Vila Velha", "Serra", "Cariacica")),
    UF("GO", 7.06, "CO", (62, 64), (72800, 76799), ("Goiânia", "Aparecida de Goiânia", "Anápolis", "Rio Verde")),
    UF("MA", 6.78, "NE", (98, 99), (65000, 65999), ("São Luís", "Imperatriz", "Caxias")),
    UF("MT", 3.66, "CO", (65, 66), (78000, 78899), ("Cuiabá", "Várzea Grande", "Rondonópolis", "Sinop")),
    UF("MS", 2.76, "CO", (67,), (79000, 79999), ("Campo Grande", "Dourados", "Três Lagoas")),
    UF("MG", 20.54, "SE", (31, 32, 33, 34, 35, 37, 38), (30000, 39999),
       ("Belo Horizonte", "Uberlândia", "Contagem", "Juiz de Fora", "Betim", "Montes Claros", "Uberaba")),
    UF("PA", 8.12, "N", (91, 93, 94), (66000, 68899), ("Belém", "Ananindeua", "Santarém", "Marabá")),
    UF("PB", 3.97, "NE", (83,), (58000, 58999), ("João Pessoa", "Campina Grande", "Santa Rita")),
    UF("PR", 11.44, "S", (41, 42, 43, 44, 45, 46), (80000, 87999),
       ("Curitiba", "Londrina", "Maringá", "Ponta Grossa", "Cascavel", "Foz do Iguaçu")),
    UF("PE", 9.06, "NE", (81, 87), (50000, 56999), ("Recife", "Jaboatão dos Guararapes", "Olinda", "Caruaru", "Petrolina")),
    UF("PI", 3.27, "NE", (86, 89), (64000, 64999), ("Teresina", "Parnaíba", "Picos")),
    UF("RJ", 16.05, "SE", (21, 22, 24), (20000, 28999),
       ("Rio de Janeiro", "São Gonçalo", "Duque de Caxias", "Nova Iguaçu", "Niterói", "Campos dos Goytacazes")),
    UF("RN", 3.30, "NE", (84,), (59000, 59999), ("Natal", "Mossoró", "Parnamirim")),
    UF("RS", 10.88, "S", (51, 53, 54, 55), (90000, 99999),
       ("Porto Alegre", "Caxias do Sul", "Canoas", "Pelotas", "Santa Maria", "Passo Fundo")),
    UF("RO", 1.58, "N", (69,), (76800, 76999), ("Porto Velho", "Ji-Paraná", "Ariquemes")),
    UF("RR", 0.64, "N", (95,), (69300, 69399), ("Boa Vista",)),
    UF("SC", 7.61, "S", (47, 48, 49), (88000, 89999), ("Florianópolis", "Joinville", "Blumenau", "Itajaí", "Chapecó")),
    UF("SP", 44.41, "SE", (11, 12, 13, 14, 15, 16, 17, 18, 19), (1000, 19999),
       ("São Paulo", "Guarulhos", "Campinas", "São Bernardo do Campo", "Santo André", "Osasco",
        "Ribeirão Preto", "Sorocaba", "São José dos Campos", "Santos")),
    UF("SE", 2.21, "NE", (79,), (49000, 49999), ("Aracaju", "Nossa Senhora do Socorro", "Lagarto")),
    UF("TO", 1.51, "N", (63,), (77000, 77999), ("Palmas", "Araguaína", "Gurupi")),
)  # fmt: skip

# Where orders ship from (the `warehouses` table): (code, name, city, state). A scale takes the first N.
DISTRIBUTION_CENTRES: tuple[tuple[str, str, str, str], ...] = (
    ("CD-SP", "Centro de Distribuição Cajamar", "Cajamar", "SP"),
    ("CD-MG", "Centro de Distribuição Contagem", "Contagem", "MG"),
    ("CD-PE", "Centro de Distribuição Jaboatão", "Jaboatão dos Guararapes", "PE"),
    ("CD-PR", "Centro de Distribuição São José dos Pinhais", "São José dos Pinhais", "PR"),
    ("CD-GO", "Centro de Distribuição Anápolis", "Anápolis", "GO"),
    ("CD-RJ", "Centro de Distribuição Duque de Caxias", "Duque de Caxias", "RJ"),
    ("CD-BA", "Centro de Distribuição Simões Filho", "Simões Filho", "BA"),
    ("CD-RS", "Centro de Distribuição Canoas", "Canoas", "RS"),
    ("CD-PA", "Centro de Distribuição Ananindeua", "Ananindeua", "PA"),
    ("CD-SC", "Centro de Distribuição Itajaí", "Itajaí", "SC"),
)
# When a region has no warehouse of its own, ship from the next region in this list.
REGION_FALLBACK = {
    "N": ("N", "NE", "CO", "SE"),
    "NE": ("NE", "SE"),
    "CO": ("CO", "SE"),
    "SE": ("SE",),
    "S": ("S", "SE"),
}

FIRST_NAMES = (
    "Ana", "Maria", "Juliana", "Fernanda", "Patrícia", "Aline", "Camila", "Bruna", "Amanda", "Letícia",
    "Mariana", "Beatriz", "Larissa", "Gabriela", "Vanessa", "Cristiane", "Renata", "Adriana", "Luciana", "Sandra",
    "José", "João", "Antônio", "Carlos", "Paulo", "Pedro", "Lucas", "Marcos", "Luiz", "Gabriel",
    "Rafael", "Daniel", "Marcelo", "Bruno", "Eduardo", "Felipe", "Rodrigo", "Gustavo", "Fábio", "Thiago",
)  # fmt: skip
SURNAMES = (
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes",
    "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira", "Barbosa",
    "Rocha", "Dias", "Nascimento", "Andrade", "Moreira", "Nunes", "Marques", "Machado", "Mendes", "Freitas",
    "Cardoso", "Ramos", "Gonçalves", "Santana", "Teixeira", "Araújo", "Pinto", "Moura", "Cavalcanti", "Monteiro",
)  # fmt: skip
PHARMACY_PREFIXES = ("Farmácia", "Drogaria", "Drogaria e Farmácia", "Farma", "Droga", "Drogaria")
PHARMACY_CORES = (
    "São João", "Santa Luzia", "Bem-Estar", "Vida", "Popular", "Central", "do Povo", "Nossa Senhora Aparecida",
    "Saúde Total", "Santa Rita", "São Lucas", "Bom Jesus", "Nova Esperança", "Sempre Viva", "Pague Menos Mais",
    "Boa Saúde", "da Família", "Vida Nova", "Santo Antônio", "São Francisco", "Primavera", "Estrela",
    "Ipiranga", "Progresso", "Esperança", "Cristo Rei", "Alvorada", "Globo", "Imperial", "Real",
)  # fmt: skip
STREET_TYPES = ("Rua", "Rua", "Rua", "Avenida", "Avenida", "Travessa", "Praça")
STREET_NAMES = (
    "Sete de Setembro", "XV de Novembro", "Tiradentes", "Getúlio Vargas", "Dom Pedro II", "das Flores",
    "Rio Branco", "Santos Dumont", "Marechal Deodoro", "Barão do Rio Branco", "Floriano Peixoto",
    "José Bonifácio", "Duque de Caxias", "Presidente Vargas", "São Paulo", "Brasil", "Independência",
    "Castro Alves", "Rui Barbosa", "Benjamin Constant", "Amazonas", "Paraná", "Bahia", "Goiás",
    "Princesa Isabel", "Júlio de Castilhos", "Coronel Fernandes", "Padre Anchieta", "Voluntários da Pátria",
)  # fmt: skip
EMAIL_DOMAINS = ("gmail.com", "hotmail.com", "outlook.com", "yahoo.com.br", "uol.com.br", "terra.com.br")

SUPPLIER_CORES = (
    "Aurora", "Vitalis", "Serra Azul", "Bandeirante", "Atlântico", "Ipê", "Jatobá", "Cerrado", "Pantanal",
    "Horizonte", "Paineira", "Araucária", "Guanabara", "Tropical", "Mantiqueira", "Piracema", "Itaúna",
    "Biocenter", "Pharmanova", "Medilar", "Saúde Brasil", "Vale Verde", "Sol Nascente", "Cruzeiro", "Prisma",
    "Norte Farma", "Sul Pharma", "Quality Med", "Genfarma", "Uniflora", "Lumen", "Vitacorp", "Orion",
    "Alfa", "Delta", "Sigma", "Ômega", "Netuno", "Aquarela", "Caravela", "Veredas", "Jequitibá", "Bromélia",
    "Carnaúba", "Imbuia", "Buriti", "Acácia", "Cedro", "Angico", "Aroeira",
)  # fmt: skip
MANUFACTURER_FORMS = (
    "Laboratório {} S.A.",
    "{} Indústria Farmacêutica Ltda",
    "Laboratórios {} Ltda",
    "Farmacêutica {} S.A.",
)
DISTRIBUTOR_FORMS = ("{} Distribuidora de Medicamentos Ltda", "{} Comercial Farmacêutica Ltda")

# (category, parent or None, active ingredients). A scale takes the first N, so parents come
# before their subcategories and two subcategories come early (even 10 categories have a
# hierarchy); an excluded subcategory's ingredients fall back to its parent. Each ingredient: (name, dosages, forms, base cost BRL).
Ingredient = tuple[str, tuple[str, ...], tuple[str, ...], float]
CATEGORY_TREE: tuple[tuple[str, str | None, tuple[Ingredient, ...]], ...] = (
    ("Analgésicos e Antitérmicos", None, (
        ("Dipirona Sódica", ("500mg", "1g", "500mg/mL"), ("Comprimido", "Solução Oral Gotas"), 4.5),
        ("Paracetamol", ("500mg", "750mg", "200mg/mL"), ("Comprimido", "Solução Oral Gotas"), 5.0),
        ("Ácido Acetilsalicílico", ("100mg", "500mg"), ("Comprimido",), 3.0),
    )),
    ("Antibióticos", None, (
        ("Amoxicilina", ("500mg", "875mg", "250mg/5mL"), ("Cápsula", "Suspensão Oral"), 14.0),
        ("Azitromicina", ("500mg", "40mg/mL"), ("Comprimido Revestido", "Suspensão Oral"), 16.0),
        ("Cefalexina", ("500mg", "250mg/5mL"), ("Cápsula", "Suspensão Oral"), 15.0),
        ("Ciprofloxacino", ("500mg",), ("Comprimido Revestido",), 13.0),
        ("Amoxicilina + Clavulanato de Potássio", ("875mg+125mg", "500mg+125mg"), ("Comprimido Revestido",), 38.0),
    )),
    ("Cardiovascular", None, (
        ("Losartana Potássica", ("25mg", "50mg", "100mg"), ("Comprimido Revestido",), 9.0),
        ("Enalapril", ("10mg", "20mg"), ("Comprimido",), 7.0),
        ("Anlodipino", ("5mg", "10mg"), ("Comprimido",), 8.0),
        ("Atenolol", ("25mg", "50mg"), ("Comprimido",), 6.0),
        ("Hidroclorotiazida", ("25mg",), ("Comprimido",), 4.0),
        ("Sinvastatina", ("20mg", "40mg"), ("Comprimido Revestido",), 10.0),
        ("Atorvastatina Cálcica", ("10mg", "20mg", "40mg"), ("Comprimido Revestido",), 22.0),
        ("Rosuvastatina Cálcica", ("10mg", "20mg"), ("Comprimido Revestido",), 30.0),
    )),
    ("Diabetes", None, (
        ("Cloridrato de Metformina", ("500mg", "850mg"), ("Comprimido", "Comprimido de Liberação Prolongada"), 7.0),
        ("Glibenclamida", ("5mg",), ("Comprimido",), 4.0),
        ("Gliclazida", ("30mg", "60mg"), ("Comprimido de Liberação Prolongada",), 16.0),
        ("Insulina Humana NPH", ("100UI/mL",), ("Suspensão Injetável",), 48.0),
    )),
    ("Gastrointestinal", None, (
        ("Omeprazol", ("20mg", "40mg"), ("Cápsula",), 9.0),
        ("Pantoprazol", ("20mg", "40mg"), ("Comprimido Revestido",), 18.0),
        ("Domperidona", ("10mg",), ("Comprimido",), 9.0),
        ("Simeticona", ("40mg", "75mg/mL"), ("Comprimido", "Emulsão Oral Gotas"), 6.0),
        ("Bromoprida", ("10mg",), ("Cápsula",), 8.0),
    )),
    ("Respiratório e Antialérgicos", None, (
        ("Loratadina", ("10mg", "1mg/mL"), ("Comprimido", "Xarope"), 7.0),
        ("Desloratadina", ("5mg",), ("Comprimido Revestido",), 15.0),
        ("Sulfato de Salbutamol", ("100mcg",), ("Aerossol",), 19.0),
        ("Budesonida", ("32mcg", "50mcg"), ("Spray Nasal",), 35.0),
        ("Acetilcisteína", ("600mg", "20mg/mL"), ("Granulado", "Xarope"), 16.0),
    )),
    ("Anti-inflamatórios", "Analgésicos e Antitérmicos", (
        ("Ibuprofeno", ("400mg", "600mg", "50mg/mL"), ("Comprimido Revestido", "Suspensão Oral Gotas"), 8.0),
        ("Nimesulida", ("100mg",), ("Comprimido",), 6.0),
        ("Diclofenaco Sódico", ("50mg",), ("Comprimido Revestido",), 5.0),
        ("Cetoprofeno", ("100mg",), ("Comprimido Revestido",), 14.0),
    )),
    ("Anti-hipertensivos", "Cardiovascular", (
        ("Valsartana", ("80mg", "160mg"), ("Comprimido Revestido",), 24.0),
        ("Carvedilol", ("6,25mg", "12,5mg", "25mg"), ("Comprimido",), 12.0),
    )),
    ("Sistema Nervoso Central", None, (
        ("Cloridrato de Sertralina", ("50mg", "100mg"), ("Comprimido Revestido",), 20.0),
        ("Cloridrato de Fluoxetina", ("20mg",), ("Cápsula",), 12.0),
        ("Oxalato de Escitalopram", ("10mg", "20mg"), ("Comprimido Revestido",), 28.0),
        ("Clonazepam", ("0,5mg", "2mg", "2,5mg/mL"), ("Comprimido", "Solução Oral Gotas"), 8.0),
        ("Cloridrato de Amitriptilina", ("25mg",), ("Comprimido Revestido",), 9.0),
    )),
    ("Dermatologia", None, (
        ("Cetoconazol", ("20mg/g",), ("Creme", "Shampoo"), 14.0),
        ("Acetato de Dexametasona", ("1mg/g",), ("Creme",), 8.0),
        ("Sulfadiazina de Prata", ("10mg/g",), ("Creme",), 18.0),
        ("Adapaleno", ("1mg/g",), ("Gel",), 45.0),
    )),
    ("Vitaminas e Suplementos", None, (
        ("Colecalciferol (Vitamina D3)", ("1.000UI", "7.000UI", "50.000UI"), ("Cápsula Mole", "Comprimido"), 18.0),
        ("Ácido Ascórbico (Vitamina C)", ("1g",), ("Comprimido Efervescente",), 12.0),
        ("Sulfato Ferroso", ("40mg",), ("Comprimido Revestido",), 5.0),
        ("Ácido Fólico", ("5mg",), ("Comprimido",), 4.0),
        ("Carbonato de Cálcio + Colecalciferol", ("500mg+400UI", "600mg+400UI"), ("Comprimido Revestido",), 20.0),
    )),
    ("Hormônios e Contraceptivos", None, (
        ("Levotiroxina Sódica", ("25mcg", "50mcg", "100mcg"), ("Comprimido",), 11.0),
        ("Levonorgestrel + Etinilestradiol", ("0,15mg+0,03mg",), ("Comprimido",), 9.0),
        ("Prednisona", ("5mg", "20mg"), ("Comprimido",), 6.0),
    )),
    ("Oftalmologia", None, (
        ("Carmelose Sódica", ("5mg/mL",), ("Solução Oftálmica",), 25.0),
        ("Tobramicina", ("3mg/mL",), ("Solução Oftálmica",), 22.0),
        ("Maleato de Timolol", ("5mg/mL",), ("Solução Oftálmica",), 15.0),
    )),
    ("Relaxantes Musculares", "Analgésicos e Antitérmicos", (
        ("Cloridrato de Ciclobenzaprina", ("5mg", "10mg"), ("Comprimido Revestido",), 15.0),
    )),
    ("Antifúngicos", "Antibióticos", (("Fluconazol", ("150mg",), ("Cápsula",), 7.0),)),
    ("Antivirais", "Antibióticos", (("Aciclovir", ("200mg", "400mg", "50mg/g"), ("Comprimido", "Creme"), 16.0),)),
    ("Hipolipemiantes", "Cardiovascular", (("Ezetimiba", ("10mg",), ("Comprimido",), 32.0),)),
    ("Antidepressivos", "Sistema Nervoso Central", (("Cloridrato de Bupropiona", ("150mg",), ("Comprimido Revestido",), 40.0),)),
    ("Ansiolíticos", "Sistema Nervoso Central", (("Alprazolam", ("0,5mg", "1mg"), ("Comprimido",), 12.0),)),
    ("Antiácidos", "Gastrointestinal", (("Hidróxido de Alumínio + Hidróxido de Magnésio", ("60mg/mL",), ("Suspensão Oral",), 9.0),)),
    ("Probióticos", "Gastrointestinal", (("Saccharomyces boulardii", ("200mg",), ("Cápsula",), 30.0),)),
    ("Antitussígenos", "Respiratório e Antialérgicos", (("Dropropizina", ("3mg/mL",), ("Xarope",), 11.0),)),
    ("Protetores Solares", "Dermatologia", (("Octocrileno + Avobenzona", ("FPS 50",), ("Loção",), 42.0),)),
    ("Multivitamínicos", "Vitaminas e Suplementos", (("Polivitamínico e Poliminerais", ("A-Z",), ("Comprimido Revestido",), 28.0),)),
    ("Antissépticos", None, (
        ("Álcool Etílico", ("70%",), ("Gel", "Solução"), 7.0),
        ("Cloreto de Sódio", ("0,9%",), ("Solução Fisiológica",), 5.0),
    )),
)  # fmt: skip

PACKAGE_SIZES_UNITS = (10, 14, 20, 28, 30, 60)
PACKAGE_SIZES_LIQUID = (
    "Frasco 10mL",
    "Frasco 20mL",
    "Frasco 100mL",
    "Frasco 120mL",
    "Bisnaga 30g",
    "Frasco 200 doses",
)
LIQUID_FORMS = (
    "Solução",
    "Suspensão",
    "Xarope",
    "Emulsão",
    "Creme",
    "Gel",
    "Shampoo",
    "Loção",
    "Aerossol",
    "Spray",
)
BRAND_SUFFIXES = ("ax", "ex", "in", "ol", "ium", "an", "ix", "ona", "al", "or")

ORDER_NOTES = (
    "Entregar no período da manhã",
    "Entregar após as 14h",
    "Conferir validade mínima de 12 meses",
    "Pedido urgente: reposição de estoque",
    "Cliente solicita nota fiscal por e-mail",
    "Entrega pela doca lateral",
    "Recebimento somente de segunda a sexta",
)
