"""Document generation costs outside the model: reading, chunking, planning, dedupe, one run.

Writes N markdown documents to a temporary folder, then times reading + chunking, slot
planning, the near-duplicate pass at two sizes (the ratio shows its quadratic growth), and a
whole offline ``generator.documents`` step with the example's stand-in writer (a python
backend), so the overhead per sample is visible without any model latency. Prints, never
asserts. Run: ``.venv/bin/python bench/documents.py [--docs 200] [--count 400]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _docs(folder: Path, n: int, rng: random.Random) -> None:
    words = [f"term{i}" for i in range(5000)]
    for i in range(n):
        paragraphs = [
            " ".join(rng.choice(words) for _ in range(60)).capitalize() + "." for _ in range(8)
        ]
        (folder / f"doc{i:04d}.md").write_text(f"# Document {i}\n\n" + "\n\n".join(paragraphs))


def main() -> None:
    """Run the measurements and print one line each."""
    from chatbot_tester.common.config_generator import DocumentsConfig
    from chatbot_tester.generator.chunking import chunk_documents
    from chatbot_tester.generator.dedupe import near_duplicates
    from chatbot_tester.generator.doc_questions import plan_slots
    from chatbot_tester.generator.doc_readers import read_documents
    from chatbot_tester.generator.documents import generate_from_documents

    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--count", type=int, default=400)
    args = parser.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _docs(folder, args.docs, rng)
        (folder / "writer.py").write_text(
            (ROOT / "examples" / "documents" / "writer.py").read_text()
        )
        config = DocumentsConfig.model_validate(
            {
                "backend": "python",
                "options": {"function": "writer:write", "search_path": str(folder)},
                "files": ["*.md"],
                "count": args.count,
            }
        )
        t0 = time.perf_counter()
        chunks = chunk_documents(read_documents(config.files, folder), 200, 40)
        t1 = time.perf_counter()
        slots = plan_slots(config, chunks)
        t2 = time.perf_counter()
        print(f"read+chunk: {args.docs} docs -> {len(chunks)} chunks in {t1 - t0:.3f} s")
        print(f"plan: {len(slots)} slots in {(t2 - t1) * 1000:.1f} ms")
        words = [f"w{i}" for i in range(3000)]
        timings = {}
        for n in (1000, 4000):
            qs = [" ".join(rng.choice(words) for _ in range(10)) + "?" for _ in range(n)]
            start = time.perf_counter()
            near_duplicates(qs, 90)
            timings[n] = time.perf_counter() - start
        print(
            f"near-duplicates: 1000 in {timings[1000]:.3f} s, 4000 in {timings[4000]:.3f} s "
            f"(ratio {timings[4000] / timings[1000]:.1f}; 16 = quadratic)"
        )
        start = time.perf_counter()
        samples, report = asyncio.run(generate_from_documents(config, base_dir=folder))
        seconds = time.perf_counter() - start
        print(
            f"generation (offline writer): {report.produced} of {report.requested} kept in "
            f"{seconds:.2f} s, {seconds / max(1, report.calls) * 1000:.2f} ms per call"
        )
        del samples
    sys.stdout.flush()


if __name__ == "__main__":
    main()
