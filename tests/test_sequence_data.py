"""Sequence datasets: character-level text, SMILES molecules, Bach chorales, downloads."""

import gzip
import hashlib
import importlib.util
import json

import numpy as np
import pytest

import genbench.data.chorales as chorales_module
import genbench.data.smiles as smiles_module
import genbench.data.text as text_module
from genbench.data.configs import ChoralesConfig, SmilesConfig, TextConfig
from genbench.data.download import CACHE_ENV, Remote, fetch
from genbench.errors import UsageError
from genbench.metrics import molecules

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\nÉté — ça va?\n" * 12


@pytest.fixture
def cache(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(directory))
    return directory


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- text ---------------------------------------------------------------------------------


def test_text_is_characters_split_90_10_in_windows(tmp_path):
    path = _write(tmp_path / "t.txt", TEXT)
    data = text_module.text_dataset(TextConfig(path=path, block_size=16))
    assert data.kind == "sequence" and data.char_level
    assert data.vocabulary == sorted(set(TEXT)) and data.levels == len(set(TEXT))
    decode = lambda row: "".join(data.vocabulary[i] for i in row)  # noqa: E731
    n_train = int(len(TEXT) * 0.9)
    train_text, test_text = TEXT[:n_train], TEXT[n_train:]
    # Training windows: 17 characters, starts 0, 8, 16, ... (stride block_size // 2).
    assert data.train.shape == ((n_train - 17) // 8 + 1, 17) and data.train.dtype == np.int32
    assert [decode(r) for r in data.train[:3]] == [train_text[s : s + 17] for s in (0, 8, 16)]
    # Test windows do not overlap: together they are the test text (the partial tail dropped).
    assert data.test.shape == (len(test_text) // 17, 17)
    assert "".join(decode(r) for r in data.test) == test_text[: 17 * len(data.test)]
    strided = text_module.text_dataset(TextConfig(path=path, block_size=16, stride=5))
    assert decode(strided.train[1]) == train_text[5:22]


@pytest.mark.parametrize(
    ("content", "fields", "fragment"),
    [
        (b"abc\xff\xfedef" * 50, {}, "is not UTF-8 text (byte 3)"),
        ("abcdefghij" * 20, {"block_size": 64}, "data.block_size=64 needs windows of 65"),
        (None, {}, "does not exist"),
        ("abc", {"block_size": -1}, "data.block_size must be >= 1"),
    ],
    ids=["not-utf8", "block-too-large", "missing", "block-zero"],
)
def test_text_bad_input_is_a_usage_error(tmp_path, content, fields, fragment):
    path = tmp_path / "t.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    config = TextConfig(path=str(path), **fields)
    with pytest.raises(UsageError) as info:
        config.validate()
    assert fragment in str(info.value) and "\n" not in str(info.value)
    if content is not None and fields.get("block_size", 1) > 0:
        with pytest.raises(UsageError, match="UTF-8|needs windows"):
            text_module.text_dataset(config)


def test_default_text_is_tiny_shakespeare_downloaded_once_and_checked(tmp_path, cache, monkeypatch):
    origin = tmp_path / "input.txt"
    _write(origin, TEXT)
    digest = hashlib.sha256(origin.read_bytes()).hexdigest()
    remote = Remote("tiny Shakespeare", origin.as_uri(), "tinyshakespeare.txt", digest)
    monkeypatch.setattr(text_module, "TINY_SHAKESPEARE", remote)
    data = text_module.text_dataset(TextConfig(block_size=8))
    assert (cache / "tinyshakespeare.txt").read_text(encoding="utf-8") == TEXT
    origin.unlink()  # the second time it comes from the cache
    again = text_module.text_dataset(TextConfig(block_size=8))
    np.testing.assert_array_equal(again.test, data.test)
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp")]


def test_download_checksum_and_offline_errors(tmp_path, cache):
    origin = tmp_path / "f.txt"
    _write(origin, "hello")
    with pytest.raises(UsageError, match="expected " + "0" * 64 + "; nothing was written"):
        fetch(Remote("f", origin.as_uri(), "f.txt", "0" * 64))
    assert not (cache / "f.txt").exists()
    missing = Remote("tiny Shakespeare", (tmp_path / "none").as_uri(), "ts.txt", "ab" * 32)
    with pytest.raises(UsageError) as info:
        fetch(missing)
    message = str(info.value)
    assert "cannot download tiny Shakespeare" in message and "\n" not in message
    assert f"put it at {cache / 'ts.txt'} (SHA-256 {'ab' * 32})" in message
    (cache / "ts.txt").parent.mkdir(parents=True, exist_ok=True)
    (cache / "ts.txt").write_text("corrupt")
    with pytest.raises(UsageError, match="delete it to download again"):
        fetch(missing)


def test_known_checksums():
    assert text_module.TINY_SHAKESPEARE.url.endswith(
        "char-rnn/master/data/tinyshakespeare/input.txt"
    )
    assert len(text_module.TINY_SHAKESPEARE.sha256) == 64
    assert smiles_module.MOSES.url.endswith("molecularsets/moses/master/data/dataset_v1.csv")
    assert len(smiles_module.MOSES.sha256) == 64


# -- SMILES -------------------------------------------------------------------------------

TRAIN = ["CCO", "c1ccccc1", "CC(=O)O", "CCN(CC)CC", "ClCCl", "C" * 40, "OC(N)=O"]
TEST = ["CCC", "CBr", "OCC", "NCC(=O)O"]


def _moses_csv(path, train=TRAIN, test=TEST):
    rows = ["SMILES,SPLIT"] + [f"{s},train" for s in train] + [f"{s},test" for s in test]
    rows.append("CCCCC,test_scaffolds")
    return _write(path, "\n".join(rows) + "\n")


def test_smiles_rows_tokens_and_drop_counts(tmp_path):
    data = smiles_module.smiles_dataset(
        SmilesConfig(path=_moses_csv(tmp_path / "m.csv"), max_length=12)
    )
    assert data.kind == "sequence" and data.train.shape == (6, 12) and data.test.shape == (3, 12)
    assert data.vocabulary[:3] == ["<pad>", "<bos>", "<eos>"]
    assert data.vocabulary[3:] == sorted(set("".join(TRAIN[:5] + TRAIN[6:])))
    assert data.dropped_too_long == (1, 0) and data.dropped_unknown == 1  # "CBr": no B, r
    assert data.decode_smiles(data.train) == TRAIN[:5] + TRAIN[6:]
    assert data.decode_smiles(data.test) == ["CCC", "OCC", "NCC(=O)O"]
    row = data.train[0]
    assert row[0] == 1 and row[4] == 2 and (row[5:] == 0).all()  # <bos> C C O <eos> <pad>...
    assert data.decode_smiles(np.array([[1, 3, 0, 0], [1, 1, 2, 0], [3, 3, 3, 3]])) == [
        None,
        None,
        None,
    ]
    scaffolds = smiles_module.smiles_dataset(
        SmilesConfig(path=str(tmp_path / "m.csv"), test_split="test_scaffolds")
    )
    assert scaffolds.decode_smiles(scaffolds.test) == ["CCCCC"]


def test_smiles_subsample_test_path_and_seeded_split(tmp_path):
    train_csv = _write(tmp_path / "train.csv", "SMILES\n" + "\n".join(TRAIN) + "\n")
    test_csv = _write(tmp_path / "test.csv", "smiles\n" + "\n".join(TEST) + "\n")
    data = smiles_module.smiles_dataset(
        SmilesConfig(path=train_csv, test_path=test_csv, subsample=3)
    )
    assert len(data.train) == 3 and set(data.train_smiles) <= set(TRAIN)
    split = smiles_module.smiles_dataset(SmilesConfig(path=train_csv))
    assert len(split.train) + len(split.test) == len(TRAIN) and len(split.test) == 1
    bad = _write(tmp_path / "bad.csv", "name,formula\na,b\n")
    with pytest.raises(UsageError, match="has no SMILES column"):
        smiles_module.smiles_dataset(SmilesConfig(path=bad))
    with pytest.raises(UsageError, match="needs data.path"):
        SmilesConfig(test_path=test_csv).validate()


def test_smiles_from_the_molsets_wheel_without_importing_it(tmp_path, monkeypatch, cache):
    data_dir = tmp_path / "site" / "moses" / "dataset" / "data"
    data_dir.mkdir(parents=True)
    (tmp_path / "site" / "moses" / "__init__.py").write_text("raise ImportError('imported')\n")
    for name, smiles in (("train", TRAIN[:5]), ("test", TEST[:1])):
        with gzip.open(data_dir / f"{name}.csv.gz", "wt") as handle:
            handle.write("SMILES\n" + "\n".join(smiles) + "\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    data = smiles_module.smiles_dataset(SmilesConfig())
    assert data.train_smiles == TRAIN[:5] and data.decode_smiles(data.test) == ["CCC"]


def test_smiles_offline_download_error(tmp_path, monkeypatch, cache):
    monkeypatch.setattr(smiles_module, "molsets_files", lambda split: None)
    remote = Remote("the MOSES dataset", (tmp_path / "none.csv").as_uri(), "moses.csv", "")
    monkeypatch.setattr(smiles_module, "MOSES", remote)
    with pytest.raises(UsageError, match=f"put it at {cache / 'moses.csv'}"):
        smiles_module.smiles_dataset(SmilesConfig())


def test_molecule_metrics_follow_moses_definitions():
    # A stand-in for RDKit: balanced parentheses are molecules, canonical form upper-case.
    def canonical(s):
        return s.upper() if s and s.count("(") == s.count(")") else None

    sampled = ["CCO", "cco", "C(C", "", None, "CCN", "OCC"]
    assert molecules.validity(sampled, canonical) == pytest.approx(4 / 7)
    assert molecules.uniqueness(sampled, canonical) == pytest.approx(3 / 4)  # CCO twice
    assert molecules.novelty(sampled, ["CCO"], canonical) == pytest.approx(2 / 3)
    assert molecules.validity([], canonical) == 0.0


def test_molecule_metrics_without_rdkit(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "rdkit" else real(name, *a)
    )
    with pytest.raises(UsageError, match="pip install rdkit"):
        SmilesConfig(rdkit_metrics=True).validate()
    with pytest.raises(UsageError, match="pip install rdkit"):
        molecules.validity(["CCO"])
    data = smiles_module.smiles_dataset(SmilesConfig(path=_moses_csv(tmp_path / "m.csv")))

    class Sampler:
        def sample(self, rng, n):
            raise AssertionError("no samples are drawn without rdkit")

    assert molecules.molecule_metrics(Sampler(), data, None, None, None) == ({}, {})


# -- chorales -----------------------------------------------------------------------------


def test_chorale_encodings():
    events = [[67, 1.0], [-1, 0.5], [-1, 0.5], [69, 0.25], [71, 1.5]]
    assert chorales_module.encode_piece(events, "note") == [67, "R", 69, 71, "|"]
    sixteenth = chorales_module.encode_piece(events, "sixteenth")
    assert sixteenth == [67, "_", "_", "_", "R", "_", "R", "_", 69, 71] + ["_"] * 5 + ["|"]
    assert chorales_module.pitch_name(60) == "C4" and chorales_module.pitch_name(70) == "A#4"


@pytest.mark.skipif(importlib.util.find_spec("music21") is None, reason="needs music21")
def test_chorales_parse_a_few_pieces_and_hit_the_cache(cache, monkeypatch):
    config = ChoralesConfig(max_pieces=4, block_size=8)
    config.validate()
    data = chorales_module.chorales(config)
    assert data.kind == "sequence" and data.train.shape[1] == 9 and data.test.shape[1] == 9
    assert data.vocabulary[:2] == ["|", "R"] and data.levels == len(data.vocabulary)
    assert all(m == -1 or 55 <= m <= 84 for m in data.midi)  # soprano range
    assert (data.train == 0).any()  # piece ends are in the windows
    files = list(cache.iterdir())
    assert [f.name for f in files] == [chorales_module.cache_file().name]
    assert len(json.loads(files[0].read_text())["pieces"]) == 4

    def no_parsing(*args):
        raise AssertionError("parsed again")

    monkeypatch.setattr(chorales_module, "parse_soprano", no_parsing)
    monkeypatch.setattr(chorales_module, "chorale_names", no_parsing)
    again = chorales_module.chorales(config)
    np.testing.assert_array_equal(again.train, data.train)
    np.testing.assert_array_equal(again.test, data.test)
    grid = chorales_module.chorales(ChoralesConfig(max_pieces=4, encoding="sixteenth"))
    assert "_" in grid.vocabulary and grid.train.shape[1] == 65
    with pytest.raises(UsageError, match="shorter than one window"):
        chorales_module.chorales(ChoralesConfig(max_pieces=2, block_size=2000))


def test_chorales_without_music21_is_a_usage_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "music21" else real(name, *a)
    )
    with pytest.raises(UsageError, match="needs music21: pip install music21"):
        ChoralesConfig().validate()
