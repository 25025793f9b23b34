"""Before each publication the segmenter asks for its sampled customers' current
vectors, so it re-centres on where silent customers are now."""

from __future__ import annotations

from engine.segmenter import LearnedSegmenter


def test_the_sample_is_refreshed_only_when_a_model_is_published() -> None:
    seg = LearnedSegmenter(["x"], n_segments=2, warmup_updates=20, publish_every=10)
    asked: list[list[str]] = []
    batch: list[str] = []

    def current(customer_id: str) -> dict[str, float | str | None] | None:
        batch.append(customer_id)
        return None  # keep what is held

    for i in range(45):
        seg.learn({"x": float(i % 2) * 100}, f"c{i % 30}", current)
        if batch:
            asked.append(sorted(batch))
            batch.clear()
    # Warm-up end (lesson 20), then every 10 lessons: 30 and 40.
    assert len(asked) == 3 and seg.model_version == 3
    assert asked[-1] == sorted(seg.sampled)


def test_current_vectors_move_the_published_centres() -> None:
    def run(now: float | None) -> list[float]:
        seg = LearnedSegmenter(["x"], n_segments=2, warmup_updates=20, publish_every=10)
        for i in range(30):
            vector = {"x": float(i % 2) * 100}
            seg.learn(vector, f"c{i % 20}", None if now is None else (lambda _: {"x": now}))
        model = seg.published_model
        assert model is not None
        return sorted(float(c) for c in (model.centroids * model.scales + model.means).ravel())

    stale, refreshed = run(None), run(3.0)
    assert stale != refreshed
    # Everyone refreshed to x = 3: both centres sit near log1p(3), none near log1p(100).
    assert max(refreshed) < 2.0 < max(stale)


def test_a_tick_publishes_early_once_enough_lessons_came() -> None:
    seg = LearnedSegmenter(["x"], n_segments=2, warmup_updates=20, publish_every=1000)
    assert not seg.publish_early(5)  # not started: nothing to publish
    for i in range(20):
        seg.learn({"x": float(i % 2) * 100}, f"c{i}")
    assert seg.model_version == 1
    for i in range(4):
        seg.learn({"x": 50.0}, f"d{i}")
    assert not seg.publish_early(5) and seg.model_version == 1
    seg.learn({"x": 50.0}, "d4")
    assert seg.publish_early(5) and seg.model_version == 2
    # The count starts again from the early publication.
    assert not seg.publish_early(1)
