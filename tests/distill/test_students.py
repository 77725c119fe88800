"""Students: DistilBERT's copies exactly the mapped teacher blocks and saves as a folder transformers loads to the
same outputs; TinyBERT's has the asked sizes; bad layer maps, depths and vocabularies are one-line errors."""
from __future__ import annotations

import warnings

import pytest
import torch

import bertkit
from bertkit.distill import distilbert_student, every_other_layer, tinybert_student
from bertkit.errors import InputError
from bertkit.models import Model, ModelConfig
from tests.hf_tiny import V, _base
from tests.training.tiny_run import tiny_config


def _block(model: Model, i: int) -> dict[str, torch.Tensor]:
    prefix = f"backbone.encoder.blocks.{i}."
    return {k[len(prefix):]: v for k, v in model.state_dict().items() if k.startswith(prefix)}


def _outside_blocks(model: Model) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if ".blocks." not in k}


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys() and a
    for k, v in a.items():
        assert torch.equal(v, b[k]), k


def _hf_teacher(folder, layers=4):
    """A random transformers BertForMaskedLM of `layers` layers, saved, and loaded as a bertkit teacher."""
    import transformers

    torch.manual_seed(0)
    ref = transformers.BertForMaskedLM(transformers.BertConfig(**_base(num_hidden_layers=layers))).eval()
    ref.save_pretrained(folder)
    return ref, bertkit.from_pretrained(folder)


def test_every_other_layer_is_blocks_0_2_4():
    assert every_other_layer(12) == [0, 2, 4, 6, 8, 10]
    assert every_other_layer(4) == [0, 2] and every_other_layer(3) == [0, 2] and every_other_layer(1) == [0]


def test_student_copies_exactly_the_mapped_blocks_embeddings_and_heads():
    torch.manual_seed(0)
    teacher = Model(tiny_config(num_layers=4), "pretraining")
    for layers, want in ((None, [0, 2]), ([3, 1, 2], [3, 1, 2])):
        student = distilbert_student(teacher, layers)
        assert student.config.num_layers == len(want) and student.task == "pretraining"
        assert student.config.replace(num_layers=4) == teacher.config
        for i, j in enumerate(want):
            _assert_same(_block(student, i), _block(teacher, j))
        _assert_same(_outside_blocks(student), _outside_blocks(teacher))  # embeddings, pooler, MLM + NSP heads
    # a copy, not shared storage: training the student leaves the teacher alone
    with torch.no_grad():
        student.backbone.encoder.blocks[0].attn.q.weight.add_(1.0)
        student.input_embeddings().weight.add_(1.0)
    assert not torch.equal(_block(student, 0)["attn.q.weight"], _block(teacher, 3)["attn.q.weight"])
    assert not torch.equal(student.input_embeddings().weight, teacher.input_embeddings().weight)


def test_bert_student_saves_as_a_bert_folder_that_transformers_loads_to_the_same_outputs(tmp_path):
    import transformers

    ref, teacher = _hf_teacher(tmp_path / "teacher")
    student = distilbert_student(teacher).eval()
    bertkit.save_pretrained(student, tmp_path / "student")
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, V, (2, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    with torch.no_grad():
        ours = student(ids, mask)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # BertModel from a masked-LM folder: the head weights go unused
            base = transformers.BertModel.from_pretrained(tmp_path / "student", add_pooling_layer=False).eval()
        mlm = transformers.BertForMaskedLM.from_pretrained(tmp_path / "student").eval()
        assert base.config.num_hidden_layers == 2 and base.config.hidden_size == 32
        torch.testing.assert_close(base(input_ids=ids, attention_mask=mask).last_hidden_state,
                                   ours.last_hidden_state, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(mlm(input_ids=ids, attention_mask=mask).logits, ours.logits, atol=1e-5, rtol=1e-4)
    # checked in transformers' own naming: student layer i is teacher layer 2i
    for i in range(2):
        _assert_same(mlm.bert.encoder.layer[i].state_dict(), ref.bert.encoder.layer[2 * i].state_dict())
    _assert_same(mlm.bert.embeddings.state_dict(), ref.bert.embeddings.state_dict())


def test_distilbert_teacher_gives_a_distilbert_student(tmp_path):
    import transformers

    torch.manual_seed(0)
    cfg = transformers.DistilBertConfig(vocab_size=V, dim=32, n_layers=4, n_heads=4, hidden_dim=37,
                                        max_position_embeddings=64)
    ref = transformers.DistilBertForMaskedLM(cfg).eval()
    ref.save_pretrained(tmp_path / "teacher")
    student = distilbert_student(bertkit.from_pretrained(tmp_path / "teacher"), [1, 3]).eval()
    assert student.config.family == "distilbert"
    bertkit.save_pretrained(student, tmp_path / "student")
    hf = transformers.DistilBertForMaskedLM.from_pretrained(tmp_path / "student").eval()
    assert hf.config.n_layers == 2
    ids = torch.randint(5, V, (2, 7), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(hf(input_ids=ids).logits, student(ids).logits, atol=1e-5, rtol=1e-4)
    _assert_same(hf.distilbert.transformer.layer[0].state_dict(), ref.distilbert.transformer.layer[1].state_dict())


def test_a_student_of_a_loaded_teacher_saves_with_its_tokenizer(tiny, tmp_path):
    student = distilbert_student(bertkit.from_pretrained(tiny))
    assert student.config.num_layers == 1
    bertkit.save_pretrained(student, tmp_path / "s")
    assert (tmp_path / "s" / "vocab.txt").read_text() == (tiny / "vocab.txt").read_text()
    again = bertkit.from_pretrained(tmp_path / "s")
    _assert_same(again.state_dict(), student.state_dict())


def test_distilbert_student_errors(tmp_path):
    from tests.pretrain_fixtures import write_tokenizer

    torch.manual_seed(0)
    teacher = Model(tiny_config(num_layers=4), "mlm")
    with pytest.raises(InputError, match=r"layer map index 4 is out of range for a 4-layer teacher \(blocks 0..3\)"):
        distilbert_student(teacher, [0, 4])
    with pytest.raises(InputError, match="layer map index -1 is out of range"):
        distilbert_student(teacher, [-1])
    with pytest.raises(InputError, match="a layer map of 5 layers makes a student deeper than its 4-layer teacher"):
        distilbert_student(teacher, [0, 1, 2, 3, 3])
    with pytest.raises(InputError, match="takes teacher block 1 twice"):
        distilbert_student(teacher, [1, 1])
    with pytest.raises(InputError, match="the layer map is empty"):
        distilbert_student(teacher, [])
    toy = bertkit.Tokenizer.from_pretrained(write_tokenizer(tmp_path / "tok"))  # 83 tokens, the teacher has 99
    with pytest.raises(InputError, match="mismatched vocabularies: the student has 83 tokens, the teacher 99"):
        distilbert_student(teacher, tokenizer=toy)
    albert = Model(tiny_config(family="albert", embedding_size=16, num_layers=4), "mlm")
    with pytest.raises(InputError, match="ALBERT teacher shares one block"):
        distilbert_student(albert)
    with pytest.raises(InputError, match="takes a bertkit encoder Model"):
        distilbert_student(torch.nn.Linear(2, 2))


def test_tinybert_student_has_the_asked_sizes_and_the_teachers_vocabulary(tmp_path):
    import transformers

    teacher_cfg = ModelConfig(vocab_size=V, num_layers=12, max_positions=64, num_labels=3)  # BERT-base widths
    student = tinybert_student(teacher_cfg)
    c = student.config
    assert (c.num_layers, c.hidden_size, c.num_heads, c.intermediate_size) == (4, 312, 12, 1200)
    assert (c.family, c.vocab_size, c.max_positions, c.num_labels, student.task) == ("bert", V, 64, 3, "base")
    small = tinybert_student(Model(tiny_config(num_layers=4), "classification"), layers=2, hidden=16, heads=4,
                             ffn=24, task="classification")
    assert small.config.num_layers == 2 and small.task == "classification"
    electra = tinybert_student(tiny_config(family="electra", embedding_size=16, num_layers=4), 2, 24, 4, 30)
    assert electra.config.emb_dim == 24 and electra.config.family == "electra"
    bertkit.save_pretrained(small.eval(), tmp_path / "s")
    hf = transformers.BertForSequenceClassification.from_pretrained(tmp_path / "s").eval()
    ids = torch.randint(5, V, (2, 7), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(hf(input_ids=ids).logits, small(ids).logits, atol=1e-5, rtol=1e-4)


def test_tinybert_student_errors(tmp_path):
    from tests.pretrain_fixtures import write_tokenizer

    cfg = tiny_config(num_layers=4)
    assert tinybert_student(cfg, layers=3, hidden=16, heads=4).config.num_layers == 3  # layer map [0, 1, 3, 4]
    with pytest.raises(InputError, match="a student of 8 layers is deeper than its 4-layer teacher"):
        tinybert_student(cfg, layers=8, hidden=16, heads=4)
    with pytest.raises(InputError, match="a width of 30 does not split into 4 heads"):
        tinybert_student(cfg, layers=2, hidden=30, heads=4)
    toy = bertkit.Tokenizer.from_pretrained(write_tokenizer(tmp_path / "tok"))
    with pytest.raises(InputError, match="mismatched vocabularies: the student has 83 tokens, the teacher 99"):
        tinybert_student(cfg, layers=2, hidden=16, heads=4, tokenizer=toy)
    with pytest.raises(InputError, match="encoders of the BERT family; the teacher is a gpt2 model"):
        tinybert_student(tiny_config(family="gpt2"), layers=1, hidden=16, heads=4)
