"""The seeds page: the seed corpus (the articles that define the beat) and, for each seed,
the stored articles nearest to it and how many copies of it were recognised."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from monitor.pages.context import Pages
from monitor.pages.web import Reader, render
from monitor.seeds import list_seed_files, read_seed
from monitor.storage.pages import nearest_to_seeds, seed_duplicate_counts

router = APIRouter(include_in_schema=False)
NEAREST_PER_SEED = 5
PREVIEW_CHARS = 400


@router.get("/seeds")
def seeds_page(request: Request, pages: Pages, reader: Reader) -> Response:
    directory = pages.settings.relevance.seeds_dir
    seeds = [read_seed(p) for p in list_seed_files(directory)] if directory.is_dir() else []
    with pages.sessions() as session:
        nearest = nearest_to_seeds(session, NEAREST_PER_SEED)
        copies = seed_duplicate_counts(session)
    return render(
        request,
        pages,
        "seeds.html",
        directory=directory,
        seeds=seeds,
        nearest=nearest,
        copies=copies,
        preview_chars=PREVIEW_CHARS,
    )
