"""Integrated-gradients explanations (tasks/explain.py): completeness, a hand-written IG loop, a logit that cannot
move, the HTML page and terminal line read back, the errors a user can cause, and the CLI."""
from __future__ import annotations

import re
import warnings
from html.parser import HTMLParser

import pytest
import torch

import bertkit
from bertkit.errors import InputError
from bertkit.models.model import init_weights
from bertkit.tasks.explain import explain
from bertkit.tasks.predictor import Predictor

TEXT = "I loved the unbelievably slow song, really!"


def _model(tiny, task="classification", num_labels=2, seed=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the newly initialised head
        model = bertkit.from_pretrained(tiny, task=task, num_labels=num_labels)
    torch.manual_seed(seed)
    init_weights(model, std=0.3)  # larger weights than BERT's 0.02: logits that move, a path that is not straight
    with torch.no_grad():  # init_weights zeroes the [PAD] row; a trained one is not zero, and the two baselines differ
        model.backbone.embeddings.word.weight[0].normal_(0, 0.3)
    return model.eval()


@pytest.fixture(scope="module")
def clf(tiny):
    return Predictor("classify", _model(tiny), bertkit.Tokenizer.from_pretrained(tiny),
                     {"labels": ["neg", "pos"], "max_length": 32})


def _ids(clf, text=TEXT, pair=None):
    enc = clf.tokenizer([text], None if pair is None else [pair], padding=False)
    return torch.tensor(enc["input_ids"]), torch.tensor(enc["token_type_ids"])


def _pad_out(clf, ids):
    """The [PAD] baseline as token ids: every non-special token replaced by [PAD]."""
    special = torch.tensor([[i in clf.tokenizer.all_special_ids for i in row] for row in ids.tolist()])
    return torch.where(special, ids, torch.full_like(ids, clf.tokenizer.pad_token_id))


def test_attributions_add_up_to_the_logit_gap(clf):
    ids, types = _ids(clf)
    with torch.no_grad():  # logits by the plain model, no hook: the input, and the input with [PAD] tokens
        at_x = clf.model(ids, token_type_ids=types).logits[0]
        at_base = clf.model(_pad_out(clf, ids), token_type_ids=types).logits[0]
    for target in ("neg", "pos"):
        k = ["neg", "pos"].index(target)
        exp = explain(clf, TEXT, target=target)
        gap = float(at_x[k] - at_base[k])
        assert abs(gap) > 0.1  # the test means something only when the logit moves
        assert exp.logit == pytest.approx(float(at_x[k]), abs=1e-5)
        assert exp.baseline_logit == pytest.approx(float(at_base[k]), abs=1e-5)
        assert abs(sum(exp.attributions) - gap) <= 0.01 * abs(gap)
        assert exp.completeness_error <= 0.01
        assert exp.attributions[0] == exp.attributions[-1] == 0.0  # [CLS] and [SEP] are their own baseline
    assert explain(clf, TEXT).target == ["neg", "pos"][int(at_x.argmax())]  # default: the predicted label


def _hand_ig(model, ids, types, base_vec, target, steps=200):
    """IG written out: one alpha at a time, midpoint rule, gradient by torch.autograd.grad. base_vec (E,): the
    baseline of every non-special token."""
    word = model.backbone.embeddings.word
    x = word.weight.detach()[ids[0]]
    special = torch.tensor([t in (101, 102) for t in ids[0].tolist()])  # MiniLM's [CLS], [SEP]
    base = torch.where(special[:, None], x, base_vec.expand_as(x))
    grads = torch.zeros_like(x)
    for k in range(steps):
        point = (base + (k + 0.5) / steps * (x - base)).unsqueeze(0).requires_grad_(True)
        h = word.register_forward_hook(lambda m, i, o, point=point: point)
        try:
            logit = model(ids, token_type_ids=types).logits[0, target]
        finally:
            h.remove()
        grads += torch.autograd.grad(logit, point)[0][0] / steps
    return ((x - base) * grads).sum(-1)


def test_matches_a_hand_written_integrated_gradients_loop(clf):
    ids, types = _ids(clf, "a short film")
    pad_vec = clf.model.backbone.embeddings.word.weight.detach()[clf.tokenizer.pad_token_id]
    hand = _hand_ig(clf.model, ids, types, pad_vec, target=1)
    exp = explain(clf, "a short film", target="pos", steps=200, batch_size=64)
    ours = torch.tensor(exp.attributions)
    scale = float(hand.abs().max())
    assert scale > 0.01
    assert torch.allclose(ours, hand.float(), atol=1e-4 * scale, rtol=0)
    trap = torch.tensor(explain(clf, "a short film", target="pos", steps=200, method="trapezoid").attributions)
    assert torch.allclose(trap, hand.float(), atol=2e-3 * scale, rtol=0)  # another grid, the same integral


def test_zero_baseline(clf):
    ids, types = _ids(clf, "a short film")
    hand = _hand_ig(clf.model, ids, types, torch.zeros(32), target=0, steps=40)
    exp = explain(clf, "a short film", target="neg", steps=40, baseline="zero")
    scale = float(hand.abs().max())
    assert torch.allclose(torch.tensor(exp.attributions), hand.float(), atol=1e-4 * scale, rtol=0)
    pad = explain(clf, "a short film", target="neg", steps=40)
    assert max(abs(a - b) for a, b in zip(pad.attributions, exp.attributions)) > 0.05 * scale
    assert exp.baseline == "zero" and pad.baseline_logit != exp.baseline_logit


def test_a_logit_the_inputs_cannot_move_gets_zero_attribution(tiny):
    model = _model(tiny, seed=1)
    with torch.no_grad():
        model.heads["classification"].out.weight[1].zero_()  # logit 1 = its bias, whatever the text
    pred = Predictor("classify", model, bertkit.Tokenizer.from_pretrained(tiny), {"labels": ["0", "1"]})
    flat = explain(pred, TEXT, target="1")
    assert max(abs(a) for a in flat.attributions) == 0.0
    assert flat.logit == flat.baseline_logit and flat.completeness_error == 0.0
    moving = explain(pred, TEXT, target="0")  # the other logit still depends on the words
    assert max(abs(a) for a in moving.attributions) > 1e-3


def test_words_sum_their_pieces_and_keep_the_input_text(clf):
    exp = explain(clf, TEXT, target="pos")
    assert [w for w, _ in exp.words] == ["I", "loved", "the", "unbelievably", "slow", "song", ",", "really", "!"]
    start, end = exp.tokens.index("the") + 1, exp.tokens.index("slow")
    assert end - start > 1 and exp.tokens[start + 1].startswith("##")  # "unbelievably" is several pieces
    assert exp.words[3][1] == pytest.approx(sum(exp.attributions[start:end]), abs=1e-9)
    assert exp.words[1][1] == exp.attributions[exp.tokens.index("loved")]  # a one-piece word is its piece
    assert exp.word_segments == [0] * len(exp.words)


def test_steps_are_doubled_until_complete(clf):
    exp = explain(clf, TEXT, target="pos", steps=1)
    assert exp.steps > 1 and "doubled" in exp.note
    assert exp.completeness_error <= 0.01 or exp.steps == 1024


def test_pair_predictor(tiny):
    pred = Predictor("pair", _model(tiny, num_labels=3), bertkit.Tokenizer.from_pretrained(tiny),
                     {"labels": ["e", "n", "c"], "max_length": 32})
    exp = pred.explain("a man sleeps", pair="nobody sleeps", target="c")
    assert [w for w, _ in exp.words] == ["a", "man", "sleeps", "nobody", "sleeps"]
    assert exp.word_segments == [0, 0, 0, 1, 1]
    assert exp.completeness_error <= 0.01 and exp.target == "c"
    assert " | nobody(" in exp.to_terminal(color=False)
    with pytest.raises(InputError, match="pair"):
        pred.explain("a man sleeps")


class _Spans(HTMLParser):
    def __init__(self):
        super().__init__()
        self.spans, self.h1, self._in, self._h = [], "", None, False

    def handle_starttag(self, tag, attrs):
        if tag == "span":
            self._in = dict(attrs) | {"text": ""}
        self._h = tag == "h1"

    def handle_data(self, data):
        if self._in is not None:
            self._in["text"] += data
        elif self._h:
            self.h1 += data

    def handle_endtag(self, tag):
        if tag == "span":
            self.spans.append(self._in)
            self._in = None
        self._h = False


def test_html_page_has_a_signed_span_per_word(clf, tmp_path):
    exp = explain(clf, TEXT + " <b>", target="neg")
    page = _Spans()
    page.feed(exp.to_html(tmp_path / "e.html").read_text(encoding="utf-8"))
    assert [s["text"] for s in page.spans] == [w for w, _ in exp.words]  # "<b>" comes back as text, escaped
    top = max(abs(a) for _, a in exp.words)
    signs = set()
    for s, (_, a) in zip(page.spans, exp.words):
        r, g, _, alpha = (float(v) for v in re.fullmatch(r"background-color: rgba\((.+)\)", s["style"])
                          .group(1).split(","))
        assert (g > r) == (a >= 0)  # green for, red against
        assert alpha == pytest.approx(abs(a) / top, abs=1e-3)
        assert float(s["title"]) == pytest.approx(a, abs=1e-6)
        signs.add(a >= 0)
    assert signs == {True, False}  # both colours are exercised
    assert page.h1 == f"neg (score {exp.score:.3f})"


def test_terminal_line(clf):
    exp = explain(clf, "a short film", target="pos")
    plain = exp.to_terminal(color=False)
    assert plain == f"pos (score {exp.score:.3f}): " + " ".join(f"{w}({a:+.2f})" for w, a in exp.words)
    coloured = exp.to_terminal()
    assert coloured.count("\x1b[0m") == len(exp.words)
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == f"pos (score {exp.score:.3f}): a short film"


def test_errors(clf, tiny):
    tok = bertkit.Tokenizer.from_pretrained(tiny)
    ner = Predictor("ner", _model(tiny, "token_classification", 3), tok, {"labels": ["O", "B-X", "I-X"]})
    with pytest.raises(InputError, match="classify and pair predictors, got task 'ner'"):
        ner.explain("a b")
    with pytest.raises(InputError, match=r"target label 'maybe' is not one of the model's labels: neg, pos"):
        clf.explain(TEXT, target="maybe")
    for empty in ("", "   "):
        with pytest.raises(InputError, match="non-empty string"):
            clf.explain(empty)
    with pytest.raises(InputError, match="baseline must be one of pad, zero"):
        clf.explain(TEXT, baseline="mask")
    with pytest.raises(InputError, match="steps must be an integer >= 1, got 0"):
        clf.explain(TEXT, steps=0)


def test_cli_prints_the_words(clf, tmp_path, capsys):
    from bertkit.cli.main import main

    clf.save(tmp_path / "m")
    assert main(["explain", str(tmp_path / "m"), "a short film", "--plain", "--target", "pos", "--steps", "20",
                 "--html", str(tmp_path / "e.html")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"pos \(score 0\.\d{3}\): a\([+-]\d\.\d\d\) short\([+-]\d\.\d\d\) film\([+-]\d\.\d\d\)",
                        out[0]), out
    assert out[-1] == f"wrote {tmp_path / 'e.html'}" and (tmp_path / "e.html").is_file()
    assert main(["explain", str(tmp_path / "m"), "a short film", "--target", "maybe"]) == 2
    assert "bertkit: error: target label 'maybe'" in capsys.readouterr().err


def test_a_bf16_model_is_explained_in_fp32_and_left_as_it_is(tiny):
    model = _model(tiny).to(torch.bfloat16)
    pred = Predictor("classify", model, bertkit.Tokenizer.from_pretrained(tiny), {"labels": ["0", "1"]})
    exp = pred.explain("a short film", target="1")
    assert exp.completeness_error <= 0.01
    assert next(pred.model.parameters()).dtype == torch.bfloat16 and not model.training
    ids, types = _ids(pred, "a short film")
    with torch.no_grad():
        ref = model.float()(ids, token_type_ids=types).logits[0, 1]  # the same weights, in fp32
    assert exp.logit == pytest.approx(float(ref), abs=1e-5)
