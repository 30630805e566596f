"""BOLT-11 decoding against the examples of lightning/bolts 11-payment-encoding.md."""

from __future__ import annotations

import hashlib

import pytest

from signer_core.protocol.bolt11 import DEFAULT_EXPIRY, InvalidInvoice, Invoice, decode

# Examples copied verbatim from BOLT #11 ("Examples" / "Examples of Invalid Invoices").
HASH = "0001020304050607080900010203040506070809000102030405060708090102"
SECRET = "11" * 32
TS = 1496314658

DONATION = (
    "lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyq"
    "cyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfj"
    "kxaq9qrsgq357wnc5r2ueh7ck6q93dj32dlqnls087fxdwk8qakdyafkq3yap9us6v52vjjsrvywa6rt52cm9r9zqt8r2"
    "t7mlcwspyetp5h2tztugp9lfyql"
)
COFFEE = (
    "lnbc2500u1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqq"
    "qsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpu9qrsgquk0rl77nj30yxdy8j9vdx85f"
    "kpmdla2087ne0xh8nhedh8w27kyke0lp53ut353s06fv3qfegext0eh0ymjpf39tuven09sam30g4vgpfna3rh"
)
NONSENSE = (
    "lnbc2500u1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqq"
    "qsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpquwpc4curk03c9wlrswe78q4eyqc7d8d0xqzpu9qrsgqhtjpauu9ur7f"
    "w2thcl4y9vfvh4m9wlfyz2gem29g5ghe2aak2pm3ps8fdhtceqsaagty2vph7utlgj48u0ged6a337aewvraedendscp5"
    "73dxr"
)
HASHED = (
    "lnbc20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqs"
    "yqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqhp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqs9qrsgq"
    "7ea976txfraylvgzuxs8kgcw23ezlrszfnh8r6qtfpr6cxga50aj6txm9rxrydzd06dfeawfk6swupvz4erwnyutnjq7x"
    "39ymw6j38gp7ynn44"
)
TESTNET = (
    "lntb20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygshp58yjmdan79s6qqdhdzgyn"
    "m4zwqd5d7xmw5fk98klysy043l2ahrqspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqfpp3x9"
    "et2e20v6pu37c5d9vax37wxq72un989qrsgqdj545axuxtnfemtpwkc45hx9d2ft7x04mt8q7y6t0k2dge9e7h8kpy9p3"
    "4ytyslj3yu569aalz2xdk8xkd7ltxqld94u8h2esmsmacgpghe9k8"
)
PICO = (
    "lnbc9678785340p1pwmna7lpp5gc3xfm08u9qy06djf8dfflhugl6p7lgza6dsjxq454gxhj9t7a0sd8dgfkx7cmtwd68"
    "yetpd5s9xar0wfjn5gpc8qhrsdfq24f5ggrxdaezqsnvda3kkum5wfjkzmfqf3jkgem9wgsyuctwdus9xgrcyqcjcgpzg"
    "fskx6eqf9hzqnteypzxz7fzypfhg6trddjhygrcyqezcgpzfysywmm5ypxxjemgw3hxjmn8yptk7untd9hxwg3q2d6xjc"
    "mtv4ezq7pqxgsxzmnyyqcjqmt0wfjjq6t5v4khxsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3z"
    "ygsxqyjw5qcqp2rzjq0gxwkzc8w6323m55m4jyxcjwmy7stt9hwkwe2qxmy8zpsgg7jcuwz87fcqqeuqqqyqqqqlgqqq"
    "qn3qq9q9qrsgqrvgkpnmps664wgkp43l22qsgdw4ve24aca4nymnxddlnp8vh9v2sdxlu5ywdxefsfvm0fq3sesf08uf"
    "6q9a2ke0hc9j6z6wlxg5z5kqpu2v9wz"
)
BEANS = (
    "lnbc25m1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5vdhkven9v5sxyetpdee"
    "ssp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9q5sqqqqqqqqqqqqqqqqsgq2a25dxl5hrntdt"
    "n6zvydt7d66hyzsyhqs4wdynavys42xgl6sgx9c4g7me86a27t07mdtfry458rtjr0v92cnmswpsjscgt2vcse3sgpz3u"
    "apa"
)
BEANS_IGNORED_FIELDS = (
    "lnbc25m1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5vdhkven9v5sxyetpd"
    "eessp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9q5sqqqqqqqqqqqqqqqqsgq2qrqqqfpp"
    "nqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqppnqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqpp4"
    "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqhpnqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"
    "qqqqqqqqqqqqqqqqqhp4qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqspnqqqqqqqqqqqqqq"
    "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqsp4qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"
    "qqqnp5qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnpkqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"
    "qqqqqqqqqqqqqqqqqqqqqqqqqz599y53s3ujmcfjp5xrdap68qxymkqphwsexhmhr8wdz5usdzkzrse33chw6dlp3j"
    "huhge9ley7j2ayx36kawe7kmgg8sv5ugdyusdcqzn8z9x"
)
WITH_PAYEE = (
    "lnbc25m1p70xwfzpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5"
    "kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaqnp4q0n326hr8v9zprg8gsvezcch06gfaqqhde2aj730yg0dur"
    "unfhv66sp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9qrsgqsp5zyg3zyg3zyg3zyg3zyg3zy"
    "g3zyg3zyg3zyg3zyg3zyg3zyg3zygsp5cfzp9ugllvk03rltd6hvndxj26ux6gcxc5azyxk060rj9tzghct5zvjlps76g"
    "x8wpq5yuu79688k8gnm2c0al6v608s96l0xzrrlqqwnzxmu"
)

# Invalid examples from the spec.
BAD_CHECKSUM = (
    "lnbc2500u1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpquwpc4curk03c9wlrsw"
    "e78q4eyqc7d8d0xqzpuyk0sg5g70me25alkluzd2x62aysf2pyy8edtjeevuv4p2d5p76r4zkmneet7uvyakky2zr4cus"
    "d45tftc9c5fh0nnqpnl2jfll544esqchsrnt"
)
NO_SEPARATOR = (
    "pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpquwpc4curk03c9wlrswe78q4eyqc7"
    "d8d0xqzpuyk0sg5g70me25alkluzd2x62aysf2pyy8edtjeevuv4p2d5p76r4zkmneet7uvyakky2zr4cusd45tftc9c5"
    "fh0nnqpnl2jfll544esqchsrny"
)
MIXED_CASE = (
    "LNBC2500u1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpquwpc4curk03c9wlrsw"
    "e78q4eyqc7d8d0xqzpuyk0sg5g70me25alkluzd2x62aysf2pyy8edtjeevuv4p2d5p76r4zkmneet7uvyakky2zr4cus"
    "d45tftc9c5fh0nnqpnl2jfll544esqchsrny"
)
TOO_SHORT = (
    "lnbc1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kge"
    "tjypeh2ursdae8g6na6hlh"
)
BAD_MULTIPLIER = (
    "lnbc2500x1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4"
    "jsxqzpusp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9qrsgqrrzc4cvfue4zp3hggxp47ag7x"
    "nrlr8vgcmkjxk3j5jqethnumgkpqp23z9jclu3v0a7e0aruz366e9wqdykw6dxhdzcjjhldxq0w6wgqcnu43j"
)
SUB_MSAT = (
    "lnbc2500000001p1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k"
    "7enxv4jsxqzpusp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9qrsgq0lzc236j96a95uv0m3"
    "umg28gclm5lqxtqqwk32uuk4k6673k6n5kfvx3d2h8s295fad45fdhmusm8sjudfhlf6dcsxmfvkeywmjdkxcp99202x"
)
MISSING_S = (
    "lnbc20m1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqhp58yjmdan79s6qqdhdzgyn"
    "m4zwqd5d7xmw5fk98klysy043l2ahrqs9qrsgq7ea976txfraylvgzuxs8kgcw23ezlrszfnh8r6qtfpr6cxga50aj6tx"
    "m9rxrydzd06dfeawfk6swupvz4erwnyutnjq7x39ymw6j38gp49qdkj"
)

CAKE = (
    "One piece of chocolate cake, one icecream cone, one pickle, one slice of swiss cheese, one "
    "slice of salami, one lollypop, one piece of cherry pie, one sausage, one cupcake, and one "
    "slice of watermelon"
)


def test_donation_any_amount() -> None:
    inv = decode(DONATION)
    assert inv.payment_hash == HASH
    assert inv.amount_msat is None
    assert inv.timestamp == TS
    assert inv.expiry == DEFAULT_EXPIRY == 3600
    assert inv.expires_at == TS + 3600
    assert inv.description == "Please consider supporting this project"
    assert inv.description_hash is None
    assert inv.payment_secret == SECRET
    assert inv.network == "mainnet"
    assert inv.payee is None  # no n field: the payee is only recoverable from the signature


def test_coffee_with_expiry() -> None:
    inv = decode(COFFEE)
    assert inv.payment_hash == HASH
    assert inv.amount_msat == 2500 * 100_000 == 250_000_000  # 2500u BTC = 250 000 sat
    assert inv.description == "1 cup coffee"
    assert inv.expiry == 60
    assert inv.expires_at == TS + 60
    assert inv.is_expired(TS + 60)
    assert not inv.is_expired(TS + 59)


def test_utf8_description() -> None:
    inv = decode(NONSENSE)
    assert inv.description == "ナンセンス 1杯"
    assert inv.amount_msat == 250_000_000


def test_description_hash() -> None:
    inv = decode(HASHED)
    assert inv.amount_msat == 20 * 100_000_000  # 20m BTC = 2 000 000 sat
    assert inv.description is None
    assert inv.description_hash == hashlib.sha256(CAKE.encode()).hexdigest()
    assert inv.description_hash == (
        "3925b6f67e2c340036ed12093dd44e0368df1b6ea26c53dbe4811f58fd5db8c1"
    )


def test_testnet_with_fallback_field() -> None:
    inv = decode(TESTNET)
    assert inv.network == "testnet"
    assert inv.payment_hash == HASH
    assert inv.amount_msat == 2_000_000_000


def test_pico_amount_long_description_and_route_hint() -> None:
    inv = decode(PICO)
    assert inv.amount_msat == 967_878_534
    assert inv.payment_hash == "462264ede7e14047e9b249da94fefc47f41f7d02ee9b091815a5506bc8abf75f"
    assert inv.timestamp == 1572468703
    assert inv.expiry == 604800
    assert inv.min_final_cltv_expiry == 10
    assert inv.description is not None
    assert inv.description.startswith("Blockstream Store: 88.85 USD")


def test_upper_case_and_lightning_prefix() -> None:
    lower = decode(BEANS)
    assert lower.amount_msat == 2_500_000_000
    assert lower.description == "coffee beans"
    for variant in (
        BEANS.upper(),
        "lightning:" + BEANS,
        "LIGHTNING:" + BEANS.upper(),
        f" {BEANS}\n",
    ):
        assert decode(variant) == lower
    assert lower.bolt11 == BEANS


def test_wrong_length_fields_are_ignored() -> None:
    inv = decode(BEANS_IGNORED_FIELDS)
    assert inv.payment_hash == HASH
    assert inv.payment_secret == SECRET
    assert inv.description == "coffee beans"
    assert inv.description_hash is None
    assert inv.payee is None


def test_explicit_payee() -> None:
    inv = decode(WITH_PAYEE)
    assert inv.payee == "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad"
    assert inv.payment_hash == HASH


def test_invoice_is_frozen() -> None:
    inv = decode(COFFEE)
    assert isinstance(inv, Invoice)
    with pytest.raises(AttributeError):
        inv.amount_msat = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("invoice", "match"),
    [
        (BAD_CHECKSUM, "checksum"),
        (NO_SEPARATOR, "separator"),
        (MIXED_CASE, "mixes upper and lower case"),
        (TOO_SHORT, "too short"),
        (BAD_MULTIPLIER, "invalid amount"),
        (SUB_MSAT, "whole number of millisatoshis"),
    ],
)
def test_spec_invalid_examples(invoice: str, match: str) -> None:
    with pytest.raises(InvalidInvoice, match=match):
        decode(invoice)


def test_missing_payment_secret_is_decoded_not_enforced() -> None:
    """Requiring `s` is the payer's job (the backend that pays); decoding still works."""
    inv = decode(MISSING_S)
    assert inv.payment_secret is None
    assert inv.payment_hash == HASH


def _corrupt(invoice: str, index: int) -> str:
    alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    c = invoice[index]
    return invoice[:index] + alphabet[(alphabet.index(c) + 1) % 32] + invoice[index + 1 :]


@pytest.mark.parametrize("index", [-1, -6, -50, 20, 60, 120])
def test_corrupted_character_fails_checksum(index: int) -> None:
    with pytest.raises(InvalidInvoice, match="checksum"):
        decode(_corrupt(COFFEE, index))


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   ",
        "lightning:",
        "hello world",
        "lnbc",
        "lnbc1",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",  # an on-chain address
        "lnxx2500u1" + COFFEE[10:],  # unknown currency
        "lnbc0u1" + COFFEE[10:],
        "lnbc02500u1" + COFFEE[10:],
        "lnbcu1" + COFFEE[10:],
        "lnbc2500b1" + COFFEE[10:],
        "lnbc2500u1" + COFFEE[10:] + "é",
        "lnbc2500u1" + COFFEE[10:] + "b",  # 'b' is not in the bech32 alphabet
        "x" * 10_000,
    ],
)
def test_garbage_rejected(garbage: str) -> None:
    with pytest.raises(InvalidInvoice):
        decode(garbage)


def test_non_string_rejected() -> None:
    with pytest.raises(InvalidInvoice):
        decode(None)  # type: ignore[arg-type]


def _bech32_encode(hrp: str, data: list[int]) -> str:
    """Test-only encoder to build invoices our decoder must reject for content reasons."""
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)

    def polymod(values: list[int]) -> int:
        chk = 1
        for v in values:
            top = chk >> 25
            chk = (chk & 0x1FFFFFF) << 5 ^ v
            for i in range(5):
                chk ^= gen[i] if (top >> i) & 1 else 0
        return chk

    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = polymod(expanded + data + [0] * 6) ^ 1
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    return hrp + "1" + "".join(alphabet[d] for d in data + checksum)


def test_encoder_helper_agrees_with_spec() -> None:
    hrp, rest = COFFEE.split("1", 1)
    alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    data = [alphabet.index(c) for c in rest[:-6]]
    assert _bech32_encode(hrp, data) == COFFEE


def test_missing_payment_hash_rejected() -> None:
    timestamp = [0] * 7
    d_field = [13, 0, 2, 1, 2]  # d with 2 groups
    signature = [0] * 104
    with pytest.raises(InvalidInvoice, match="no payment hash"):
        decode(_bech32_encode("lnbc", timestamp + d_field + signature))


def test_truncated_field_rejected() -> None:
    p_field = [1, 1, 20] + [0] * 52
    broken = [23, 1, 20] + [0] * 10  # h claims 52 groups, has 10 before the signature
    with pytest.raises(InvalidInvoice, match="past the end"):
        decode(_bech32_encode("lnbc", [0] * 7 + p_field + broken + [0] * 104))


def test_networks() -> None:
    p_field = [1, 1, 20] + [0] * 52
    for prefix, network in [
        ("lnbc", "mainnet"),
        ("lntb", "testnet"),
        ("lntbs", "signet"),
        ("lnbcrt", "regtest"),
        ("lnsb", "simnet"),
    ]:
        inv = decode(_bech32_encode(prefix + "10n", [0] * 7 + p_field + [0] * 104))
        assert inv.network == network
        assert inv.amount_msat == 1000
        assert inv.payment_hash == "00" * 32
