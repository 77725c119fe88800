"""XNLI's four cross-lingual evaluation protocols around one pair classifier (entailment / neutral / contradiction).

    m = evaluate_xnli("zero-shot", train="train.de.tsv", train_lang="de", evals={"de": "test.de.tsv",
                      "ko": "xnli.dev.ko.tsv"}, out="runs/xnli-zs")
    m["languages"]["ko"]["accuracy"]

- zero-shot: fine-tune on the training language, score every eval set as it is;
- translate-test: the same model, each other language's eval set translated into the training language first;
- translate-train: the training set translated into each other language, one model per language, scored on it;
- translate-train-all: one model on the training set plus all its translations, scored on every language.

Translations come from XNLI-format files aligned row by row with what they translate (`translated`) or from
translators bertkit trained (`translators`: a `bertkit.translation.Translator` folder, or a chain of folders to
pivot through another language, e.g. ko->en then en->de). Fine-tuning is `tasks.finetune.finetune("pair", ...)` on
the one Trainer. Every input is read and checked before any training or translating.
"""
from __future__ import annotations

import csv
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertkit.errors import CheckpointError, InputError

PROTOCOLS = ("zero-shot", "translate-test", "translate-train", "translate-train-all")
XNLI_LABELS = ("entailment", "neutral", "contradiction")
# accepted column names, first the XNLI / KorNLI header's
PREMISE, HYPOTHESIS, LABEL = ("sentence1", "premise"), ("sentence2", "hypothesis"), ("gold_label", "label")
HEADER = ("sentence1", "sentence2", "gold_label")


@dataclass
class NLISet:
    """Rows of an XNLI TSV: premises, hypotheses and gold labels, aligned; `path` for messages. `langs`: each row's
    language, for a mixed set (translate-train-all's union), written as a `lang` column."""

    path: Path
    premises: list[str]
    hypotheses: list[str]
    labels: list[str]
    langs: list[str] | None = None

    def __len__(self) -> int:
        return len(self.labels)


def read_xnli(path: str | Path) -> NLISet:
    """Read an XNLI-format TSV: a header with sentence1 (or premise), sentence2 (or hypothesis) and gold_label (or
    label), one pair per line, no quoting (csv.QUOTE_NONE: the Korean file has bare quotes). InputError (one line)
    for a missing or empty file, missing columns, a short row, an empty text or a label outside XNLI's three."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    while rows and not any(x.strip() for x in rows[-1]):
        rows.pop()
    if not rows:
        raise InputError(f"{path} is empty; expected a header sentence1<TAB>sentence2<TAB>gold_label and rows")
    header = [c.strip() for c in rows[0]]

    def column(names: tuple[str, ...]) -> int:
        for n in names:
            if n in header:
                return header.index(n)
        raise InputError(f"{path}: no {' or '.join(names)} column; the header has {', '.join(header) or 'nothing'} "
                         f"(expected {', '.join(HEADER)})")
    ip, ih, il = column(PREMISE), column(HYPOTHESIS), column(LABEL)
    if len(rows) == 1:
        raise InputError(f"{path} has a header but no rows")
    premises, hypotheses, labels = [], [], []
    for n, r in enumerate(rows[1:], 2):
        if len(r) <= max(ip, ih, il):
            raise InputError(f"{path}: line {n} has {len(r)} field(s), expected {len(header)} (tab-separated)")
        p, h, y = r[ip].strip(), r[ih].strip(), r[il].strip()
        if y not in XNLI_LABELS:
            raise InputError(f"{path}: line {n}: unknown label {y!r}; expected one of {', '.join(XNLI_LABELS)}")
        if not p or not h:
            raise InputError(f"{path}: line {n}: empty {'premise' if not p else 'hypothesis'}")
        premises.append(p)
        hypotheses.append(h)
        labels.append(y)
    return NLISet(path, premises, hypotheses, labels)


def write_xnli(data: NLISet, path: str | Path) -> Path:
    """Write `data` as an XNLI TSV (the header sentence1, sentence2, gold_label); tabs and newlines in a text
    become spaces, so the file reads back to the same rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def clean(s: str) -> str:
        return " ".join(s.replace("\t", " ").split())
    lines = ["\t".join(HEADER)] + [f"{clean(p)}\t{clean(h)}\t{y}"
                                   for p, h, y in zip(data.premises, data.hypotheses, data.labels)]
    if data.langs is not None:
        lines = [f"{line}\t{lang}" for line, lang in zip(lines, ["lang", *data.langs])]
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _check_aligned(translation: NLISet, original: NLISet) -> None:
    """A translated file must have the original's rows in the original's order: same count, same label per row."""
    if len(translation) != len(original):
        raise InputError(f"{translation.path} has {len(translation)} rows but {original.path}, the set it "
                         f"translates, has {len(original)}; row i must translate row i")
    bad = next((i for i, (a, b) in enumerate(zip(translation.labels, original.labels)) if a != b), None)
    if bad is not None:
        raise InputError(f"{translation.path}: row {bad + 1} is labelled {translation.labels[bad]!r} but row {bad + 1} "
                         f"of {original.path} is {original.labels[bad]!r}; the files are not aligned")


class TranslatorChain:
    """One or more Translator folders applied in order (a pivot: ko->en, then en->de)."""

    def __init__(self, folders: Sequence[str | Path], source: str, target: str) -> None:
        from bertkit.translation import Translator

        self.folders = [Path(f) for f in folders]
        if not self.folders:
            raise InputError(f"no translator folder given for {source}->{target}")
        self.models = []
        for f in self.folders:
            if not f.is_dir():
                raise InputError(f"translator {f}: no such folder (a folder written by bertkit train-translation)")
            try:
                self.models.append(Translator.load(f))
            except CheckpointError as e:
                raise InputError(f"translator {f}: {e}") from None
        langs = [(m.settings.source_lang, m.settings.target_lang) for m in self.models]
        hops = [source] + [t for _, t in langs[:-1]] + [None]
        for f, (s, t), want_src, nxt in zip(self.folders, langs, hops, hops[1:] + [None]):
            if s is not None and want_src is not None and s != want_src:
                raise InputError(f"translator {f} translates {s}->{t}, but this step needs a translator from "
                                 f"{want_src} (chain {source}->{target}: {', '.join(map(str, self.folders))})")
        last = langs[-1][1]
        if last is not None and last != target:
            raise InputError(f"translator {self.folders[-1]} translates into {last}, not {target} (chain "
                             f"{source}->{target})")
        self.source, self.target = source, target

    @property
    def parameters(self) -> list[int]:
        return [sum(p.numel() for p in m.model.parameters()) for m in self.models]

    def translate(self, texts: list[str], *, num_beams: int | None, batch_size: int, progress: bool) -> list[str]:
        """Translations of `texts`, each distinct text translated once (XNLI repeats each premise)."""
        unique = list(dict.fromkeys(texts))
        out = unique
        for f, m in zip(self.folders, self.models):
            if progress:
                print(f"translating {len(out)} texts with {f} ({m.settings.source_lang}->{m.settings.target_lang})")
            out = m.translate(out, num_beams=num_beams, batch_size=batch_size, progress=progress)
        table = dict(zip(unique, out))
        return [table[t] for t in texts]


def _translate_set(data: NLISet, chain: TranslatorChain, dst: Path, **kw: Any) -> NLISet:
    texts = data.premises + data.hypotheses
    out = chain.translate(texts, **kw)
    n = len(data)
    # an empty translation would be an empty text to fine-tune on; keep the source text there instead
    fixed = [o if o.strip() else t for o, t in zip(out, texts)]
    res = NLISet(dst, fixed[:n], fixed[n:], list(data.labels))
    write_xnli(res, dst)
    return res


def _lang_map(items: dict[str, Any] | None, what: str) -> dict[str, Any]:
    items = dict(items or {})
    for lang in items:
        if not isinstance(lang, str) or not lang.strip() or "=" in lang:
            raise InputError(f"{what}: bad language code {lang!r}; give LANG=VALUE, e.g. ko=file.tsv")
    return items


def evaluate_xnli(protocol: str, train: str | Path, evals: dict[str, str | Path], *, train_lang: str = "en",
                  translated: dict[str, str | Path] | None = None,
                  translators: dict[str, str | Path | Sequence[str | Path]] | None = None,
                  model: str | Path | None = None, classifier: str | Path | None = None,
                  out: str | Path | None = None, epochs: float = 2,
                  lr: float | None = None, batch_size: int = 32, max_length: int = 128, seed: int = 0,
                  precision: str = "auto", beams: int | None = 1, translate_batch_size: int = 32,
                  progress: bool = True) -> dict[str, Any]:
    """Run one XNLI protocol and return its metrics (also OUT/metrics.json): per language accuracy, macro F1 and n,
    the protocol, the base model, the models trained (rows, parameters, seconds) and the translations used.

    evals: language -> XNLI TSV to score. translated: language -> XNLI TSV translating, row by row, the set the
    protocol needs (translate-test: that language's eval set into train_lang; translate-train(-all): the training
    set into that language). translators: language -> Translator folder (or a list: a pivot chain) in the needed
    direction (translate-test LANG->train_lang, translate-train train_lang->LANG); translated files win per
    language, one of the two is needed for every eval language other than train_lang. model: the checkpoint to
    fine-tune (None: the bundled MiniLM). classifier: an NLI model already fine-tuned on `train` (a folder from
    a run of this function, `bertkit finetune pair` or Predictor.save) to use as the training-language model
    instead of fine-tuning one (zero-shot, translate-test, translate-train; its labels must cover the eval
    sets'). beams: beam width for translators (1: greedy; None: each model's).
    A model with language embeddings (an XLM with n_langs > 1) reads every input with its language id, as in
    pretraining: a model trained on LANG's rows gets LANG, each eval set its own language (translate-test: the
    training language) and translate-train-all's union each row's own; every language must be in its lang2id.
    Translations made here are written to OUT/translations/ and the fine-tuned models to OUT/model-LANG."""
    if protocol not in PROTOCOLS:
        raise InputError(f"unknown XNLI protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    evals = _lang_map(evals, "eval")
    if not evals:
        raise InputError("give at least one eval set: LANG=FILE")
    translated, translators = _lang_map(translated, "translated"), _lang_map(translators, "translator")
    if protocol == "zero-shot" and (translated or translators):
        raise InputError("zero-shot scores the eval sets as they are; it takes no translated files or translators")
    for lang in list(translated) + list(translators):
        if lang not in evals:
            raise InputError(f"a translation is given for {lang!r}, which is not an eval language "
                             f"({', '.join(evals)})")
        if lang == train_lang:
            raise InputError(f"{lang!r} is the training language; it needs no translation")
    others = [lang for lang in evals if lang != train_lang]
    missing = [lang for lang in others if protocol != "zero-shot" and lang not in translated and lang not in
               translators]
    if missing:
        raise InputError(f"{protocol} needs a translation for {', '.join(missing)}: give --translated "
                         f"{missing[0]}=FILE or --translator {missing[0]}=DIR")
    if batch_size < 1 or translate_batch_size < 1:
        raise InputError(f"batch sizes must be >= 1, got {batch_size} and {translate_batch_size}")
    if not epochs > 0:
        raise InputError(f"epochs must be > 0, got {epochs}")

    # ---- read and check everything before any work -----------------------------------------------------------
    train_set = read_xnli(train)
    sets = {lang: read_xnli(p) for lang, p in evals.items()}
    seen = set(train_set.labels)
    for lang, s in sets.items():
        unseen = sorted(set(s.labels) - seen)
        if unseen:
            raise InputError(f"{s.path}: label(s) {', '.join(unseen)} never occur in the training set {train}")
    given: dict[str, NLISet] = {}
    for lang, p in translated.items():
        given[lang] = read_xnli(p)
        _check_aligned(given[lang], sets[lang] if protocol == "translate-test" else train_set)
    chains: dict[str, TranslatorChain] = {}
    for lang, folders in translators.items():
        if lang in given:
            continue
        folders = [folders] if isinstance(folders, (str, Path)) else list(folders)
        src, tgt = (lang, train_lang) if protocol == "translate-test" else (train_lang, lang)
        chains[lang] = TranslatorChain(folders, src, tgt)

    from bertkit.hub.default import resolve_model_path

    reused = None
    if classifier is not None:
        if protocol == "translate-train-all":
            raise InputError("translate-train-all fine-tunes one model on the union; it takes no classifier")
        from bertkit.tasks.predictor import Predictor

        try:
            reused = Predictor.load(classifier)
        except CheckpointError as e:
            raise InputError(f"classifier {classifier}: {e}") from None
        if reused.task != "pair" or not set(train_set.labels) <= set(reused.labels or []):
            raise InputError(f"classifier {classifier} is a {reused.task} model with labels "
                             f"{', '.join(reused.labels or [])}; expected an NLI pair model with "
                             f"{', '.join(sorted(set(train_set.labels)))}")
        if model is None:  # translate-train's other models start where the classifier did
            model = reused.settings.get("base_model")
    model_dir = resolve_model_path(model)
    fine_tunes = reused is None or (protocol == "translate-train" and bool(others))
    if fine_tunes and not Path(model_dir).is_dir():  # fail here, not after translating
        raise InputError(f"model {model}: no such checkpoint folder")
    use_langs = _check_languages(reused.model if reused is not None else model_dir, [train_lang, *evals])
    import tempfile

    out_dir = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="bertkit-xnli-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    tkw = {"num_beams": beams, "batch_size": translate_batch_size, "progress": progress}
    ft = {"model": model, "epochs": epochs, "lr": lr, "batch_size": batch_size, "max_length": max_length,
          "seed": seed, "precision": precision, "progress": progress, "patience": None}
    models: dict[str, dict[str, Any]] = {}
    translations: dict[str, dict[str, Any]] = {}
    results: dict[str, dict[str, Any]] = {}

    def translation_of(lang: str, original: NLISet, name: str) -> NLISet:
        if lang in given:
            translations[lang] = {"source": "file", "file": str(given[lang].path), "rows": len(given[lang])}
            return given[lang]
        t0 = time.perf_counter()
        res = _translate_set(original, chains[lang], out_dir / "translations" / name, **tkw)
        translations[lang] = {"source": "translator", "translators": [str(f) for f in chains[lang].folders],
                              "translator_parameters": chains[lang].parameters, "file": str(res.path),
                              "rows": len(res), "seconds": round(time.perf_counter() - t0, 1)}
        return res

    def fit(name: str, data: NLISet):
        from bertkit.tasks.finetune import finetune

        # finetune reads the rows read_xnli checked, as a plain TSV with the XNLI header (a copy unless written here)
        path = data.path if data.path.parent == out_dir / "translations" else \
            write_xnli(data, out_dir / "data" / f"train.{name}.tsv")
        folder = out_dir / f"model-{name}"
        langs = {} if not use_langs else {"lang_col": "lang"} if data.langs is not None else {"lang": name}
        pred = finetune("pair", train=path, out=folder, text_col=HEADER[0], text2_col=HEADER[1],
                        label_col=HEADER[2], **langs, **ft)
        rep = pred.report  # type: ignore[attr-defined]
        models[name] = {"path": str(folder), "train": str(path), "train_rows": rep["train_examples"],
                        "parameters": rep["params"]["total"], "steps": rep["steps"],
                        "train_seconds": rep["train_seconds"]}
        return pred

    def score(pred, lang: str, data: NLISet, model_name: str, inputs: str, input_lang: str | None = None) -> None:
        kw = {"lang": input_lang or lang} if use_langs else {}  # BiLSTMPredictor.encode takes no lang
        enc = pred.encode(data.premises, data.hypotheses, gold=data.labels, **kw)
        r = pred.score(enc)
        results[lang] = {"accuracy": r["accuracy"], "macro_f1": r["macro_f1"], "n": len(data),
                         "model": model_name, "inputs": inputs, "file": str(data.path)}

    if protocol == "translate-train-all":  # the training set and all its translations, one model
        parts = [train_set] + [translation_of(lang, train_set, f"train.{train_lang}-{lang}.tsv") for lang in others]
        union = NLISet(out_dir / "translations" / "train.all.tsv", [p for s in parts for p in s.premises],
                       [h for s in parts for h in s.hypotheses], [y for s in parts for y in s.labels],
                       [lang for lang, s in zip([train_lang, *others], parts) for _ in s.labels] if use_langs else None)
        write_xnli(union, union.path)
        pred = fit("all", union)
        for lang, s in sets.items():
            score(pred, lang, s, "all", "original")
    else:
        if protocol != "translate-train" or train_lang in sets:  # translate-train needs it for train_lang only
            if reused is not None:
                base = reused
                models[train_lang] = {"path": str(classifier), "reused": True}
            else:
                base = fit(train_lang, train_set)
        for lang, s in sets.items():
            if lang == train_lang or protocol == "zero-shot":
                score(base, lang, s, train_lang, "original")
            elif protocol == "translate-test":
                tr = translation_of(lang, s, f"test.{lang}-{train_lang}.tsv")
                score(base, lang, tr, train_lang, f"translated {lang}->{train_lang}", input_lang=train_lang)
            else:  # translate-train: a model on the training set in this language
                tr = translation_of(lang, train_set, f"train.{train_lang}-{lang}.tsv")
                score(fit(lang, tr), lang, s, lang, "original")

    metrics = {"protocol": protocol, "model": str(model_dir), "language_ids": use_langs,
               "train": str(train), "train_lang": train_lang, "train_rows": len(train_set),
               "languages": {lang: results[lang] for lang in evals if lang in results}, "models": models,
               "translations": translations,
               "settings": {"epochs": epochs, "lr": lr, "batch_size": batch_size, "max_length": max_length,
                            "seed": seed, "precision": precision, "beams": beams}}
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
    return metrics


def _check_languages(model: Any, langs: Sequence[str]) -> bool:
    """True when `model` (a checkpoint folder or a loaded model) has language embeddings, after checking that its
    lang2id names every language in `langs`; False for a model without them."""
    if isinstance(model, (str, Path)):
        cfg_file = Path(model) / "config.json"
        if not cfg_file.is_file():
            return False
        try:
            cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return False  # loading the model reports the broken file
        has = cfg.get("model_type") == "xlm" and cfg.get("use_lang_emb", True) and int(cfg.get("n_langs", 1)) > 1
        lang2id = cfg.get("lang2id") or {}
    else:
        has = bool(getattr(model, "n_langs", None)) and model.backbone.embeddings.segment is not None
        lang2id = model.config.extra.get("lang2id") or {}
    if not has:
        return False
    missing = sorted(set(langs) - set(lang2id))
    if missing:
        raise InputError(f"the model's languages are {', '.join(lang2id) or 'unnamed (no lang2id)'}; it has no "
                         f"{', '.join(missing)} (XNLI reads every input with its language id)")
    return True


def format_table(metrics: dict[str, Any]) -> str:
    """The metrics as a text table: one row per language (accuracy, macro F1, n, the model, what was scored)."""
    lines = [(f"XNLI {metrics['protocol']}: trained on {metrics['train_lang']} ({metrics['train_rows']} rows), "
             f"model {metrics['model']}"),
             f"{'lang':<6}{'accuracy':>10}{'macro_f1':>10}{'n':>7}  {'model':<8}inputs"]
    for lang, r in metrics["languages"].items():
        lines.append(f"{lang:<6}{r['accuracy']:>10.4f}{r['macro_f1']:>10.4f}{r['n']:>7}  {r['model']:<8}{r['inputs']}")
    return "\n".join(lines)
