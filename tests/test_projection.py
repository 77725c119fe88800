"""Embedding projection: PCA coordinates equal scikit-learn's PCA (up to each axis's sign), topics separate, the
PNG is drawn; bad input is a one-line error."""
from __future__ import annotations

import numpy as np
import pytest

from bertkit.cli.main import main
from bertkit.embed.projection import pca_2d, project
from bertkit.errors import InputError


def test_pca_equals_scikit_learn_up_to_sign():
    from sklearn.decomposition import PCA

    x = np.random.default_rng(0).normal(size=(30, 8)) * np.arange(1, 9)
    ours, ref = pca_2d(x), PCA(n_components=2).fit_transform(x)
    for k in range(2):
        s = np.sign(ours[:, k] @ ref[:, k])
        np.testing.assert_allclose(ours[:, k], s * ref[:, k], atol=1e-9)
    with pytest.raises(InputError, match="at least 2 vectors"):
        pca_2d(x[:1])


def test_projection_picture_and_cli(minilm_path, tmp_path, capsys):
    import matplotlib.image

    sport = ["the striker scored a late goal", "the team won the football match", "a penalty decided the final"]
    food = ["bake the bread in a hot oven", "stir the soup and add salt", "the recipe needs two eggs"]
    xy = project(sport + food, tmp_path / "p.png", model=minilm_path, labels=["sport"] * 3 + ["food"] * 3)
    centres = xy[:3].mean(0), xy[3:].mean(0)
    spread = max(np.linalg.norm(xy[:3] - centres[0], axis=1).max(), np.linalg.norm(xy[3:] - centres[1], axis=1).max())
    assert np.linalg.norm(centres[0] - centres[1]) > spread  # the two topics fall apart on the first axes
    img = matplotlib.image.imread(tmp_path / "p.png")
    assert img.shape[0] > 400 and img[..., :3].std() > 0.05
    f = tmp_path / "t.tsv"
    f.write_text("".join(f"{lab}\t{t}\n" for lab, t in zip(["s"] * 3 + ["f"] * 3, sport + food)))
    assert main(["project", str(f), "--labels", "--model", str(minilm_path), "-o", str(tmp_path / "c.png")]) == 0
    assert "6 points, pca" in capsys.readouterr().out and (tmp_path / "c.png").is_file()
    (tmp_path / "bad.tsv").write_text("no tab here\nx\ty\n")
    assert main(["project", str(tmp_path / "bad.tsv"), "--labels", "-o", str(tmp_path / "d.png")]) != 0
    assert "line 1 has no LABEL<TAB>TEXT" in capsys.readouterr().err
    with pytest.raises(InputError, match="method must be one of pca, umap"):
        project(sport, tmp_path / "x.png", method="tsne")
    with pytest.raises(InputError, match="3 texts but 2 labels"):
        project(sport, tmp_path / "x.png", labels=["a", "b"])
