"""KNNClassifier equals scikit-learn's KNeighborsClassifier and is saved with the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier

from nnlab.errors import NnlabError
from nnlab.robustness import KNNClassifier, embedding_head


def _data(seed, n_bank=300, n_query=200, dim=12, classes=6):
    generator = torch.Generator().manual_seed(seed)
    bank = torch.randn(n_bank, dim, generator=generator) * torch.rand(n_bank, 1, generator=generator) * 5
    labels = torch.randint(0, classes, (n_bank,), generator=generator)
    queries = torch.randn(n_query, dim, generator=generator)
    return bank, labels, queries, classes


@pytest.mark.parametrize("k", [1, 3, 4, 7])
@pytest.mark.parametrize("metric", ["cosine", "euclidean-on-normalized"])
def test_knn_equals_sklearn(k, metric):
    bank, labels, queries, classes = _data(seed=k)
    head = embedding_head(bank, labels, k=k, num_classes=classes)
    if metric == "cosine":
        reference = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute")
        reference.fit(bank.numpy(), labels.numpy())
        expected_pred = reference.predict(queries.numpy())
        expected_proba = reference.predict_proba(queries.numpy())
    else:
        normalize = torch.nn.functional.normalize
        reference = KNeighborsClassifier(n_neighbors=k, algorithm="brute")
        reference.fit(normalize(bank).numpy(), labels.numpy())
        expected_pred = reference.predict(normalize(queries).numpy())
        expected_proba = reference.predict_proba(normalize(queries).numpy())
    scores = head(queries)
    assert scores.shape == (len(queries), classes)
    np.testing.assert_array_equal(head.predict(queries).numpy(), expected_pred)
    np.testing.assert_allclose(scores.numpy(), expected_proba, atol=1e-7)
    if k == 4:
        assert ((scores == scores.max(dim=1, keepdim=True).values).sum(dim=1) > 1).any()  # ties exercised


def test_knn_bank_travels_in_state_dict():
    bank, labels, queries, classes = _data(seed=0)
    head = embedding_head(bank, labels, k=3, num_classes=classes)
    model = torch.nn.Sequential(torch.nn.Identity(), head)
    state = model.state_dict()
    assert {"1.bank", "1.bank_labels"} <= set(state)
    fresh = torch.nn.Sequential(torch.nn.Identity(), KNNClassifier(classes, k=3))
    fresh.load_state_dict(state)
    assert torch.equal(fresh(queries), model(queries))
    assert torch.allclose(fresh[1].bank.norm(dim=1), torch.ones(len(bank)))


def test_knn_chunked_queries_agree():
    import nnlab.robustness.knn as knn

    bank, labels, queries, classes = _data(seed=1)
    head = embedding_head(bank, labels, k=3, num_classes=classes)
    whole = head(queries)
    original = knn._CHUNK_ELEMENTS
    knn._CHUNK_ELEMENTS = 7 * len(bank)  # 7 query rows per chunk
    try:
        assert torch.equal(head(queries), whole)
    finally:
        knn._CHUNK_ELEMENTS = original


def test_knn_bad_inputs():
    bank, labels, queries, classes = _data(seed=2)
    with pytest.raises(NnlabError, match="k ≥ 1"):
        KNNClassifier(classes, k=0)
    with pytest.raises(NnlabError, match="at least 500"):
        embedding_head(bank, labels, k=500, num_classes=classes)
    with pytest.raises(NnlabError, match="labels must lie"):
        embedding_head(bank, labels + classes, k=3, num_classes=classes)
    with pytest.raises(NnlabError, match="N×D embeddings and N labels"):
        embedding_head(bank, labels[:5], k=3, num_classes=classes)
    with pytest.raises(NnlabError, match="fewer than k"):
        KNNClassifier(classes, k=3)(queries)
    with pytest.raises(NnlabError, match="expects N×12"):
        embedding_head(bank, labels, k=3, num_classes=classes)(queries[:, :5])
