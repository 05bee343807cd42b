"""The runtime: the long-lived parts of a running monitor, wired once here and opened and closed
together: the clock, the embedder (loaded on first use), the processor, the HTTP client, the
alert senders and dispatcher, and the ingestor. The service, `monitor fetch`, the API and the
demo run on it; closing it gives back every claim its workers still hold, however it stops."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

# First: monitor.fetch keeps httpx's command-line client (click, rich, pygments) from loading
# with httpx, which the alert senders import too.
from monitor.fetch import open_client

# isort: split
from monitor.alerts.dispatch import Dispatcher
from monitor.alerts.senders import open_senders
from monitor.clock import Clock, utc_now
from monitor.config import EmbeddingSettings, Settings
from monitor.gazetteer import check_alert_rules, load_gazetteer
from monitor.ingest import Ingestor, open_ingestor
from monitor.storage.maintenance import release_leases

if TYPE_CHECKING:  # httpx: imported by monitor.fetch, which keeps its command-line client out
    import httpx

    # The processing stage (numpy, faiss, the encoder) loads only when a processor is built:
    # `monitor fetch --no-process` and a pure fetching worker never import it.
    from monitor.embed import Embedder
    from monitor.encoder_process import ProcessEncoder
    from monitor.process import Processor
    from monitor.tagging import Tagger

log = logging.getLogger(__name__)


def open_embedder_for(settings: Settings) -> Embedder:
    """The embedder `[embedding]` names, loaded now."""
    from monitor.embed import open_embedder

    embedding = settings.embedding
    return open_embedder(embedding.model, embedding.batch_size, embedding.threads)


def open_tagger_for(settings: Settings, embedder: Embedder) -> Tagger:
    """Gazetteer, relevance weights and seed vectors (cached in `embedding.cache_dir`)."""
    from monitor.relevance_files import open_tagger

    relevance = settings.relevance
    return open_tagger(
        relevance.gazetteer_dir,
        relevance.model_file,
        relevance.seeds_dir,
        embedder,
        settings.embedding.cache_dir,
    )


def build_processor(
    settings: Settings,
    sessions: sessionmaker[Session],
    clock: Clock = utc_now,
    embedder: Embedder | None = None,
) -> Processor:
    """The processing stage over `sessions`; loads the configured model unless given one. With
    `[embedding] processes`, batches are encoded in that many child processes, pipelined."""
    from monitor.process import Processor
    from monitor.story_files import story_models_for

    tagger = open_tagger_for(settings, embedder or open_embedder_for(settings))
    models = story_models_for(settings.stories, tagger.embedder.model_id)
    encoder = encoder_processes_for(settings.embedding, tagger.embedder)
    return Processor(
        sessions,
        tagger,
        settings.stories,
        clock,
        settings.alerts,
        models=models,
        index_dir=settings.stories.index_path,
        pipeline=encoder is not None,
        encoder=encoder,
    )


def encoder_processes_for(
    embedding: EmbeddingSettings, embedder: Embedder
) -> ProcessEncoder | None:
    """Child processes for the processing stage's encoder, when `processes` asks for them and
    `embedder` is a packaged encoder (an in-memory one given by a test stays in this process).
    None starts yet: the first batch, or the warm-up, starts them."""
    from monitor.embed import (
        CombinedEmbedder,
        SentenceTransformerEmbedder,
        UniversalSentenceEncoder,
    )
    from monitor.encoder_process import ProcessEncoder

    packaged = (UniversalSentenceEncoder, SentenceTransformerEmbedder, CombinedEmbedder)
    if not embedding.processes or not isinstance(embedder, packaged):
        return None
    return ProcessEncoder(
        embedding.model,
        embedder.model_id,
        embedder.max_chars,
        embedding.processes,
        embedding.batch_size,
    )


class LazyEmbedder:
    """The configured embedder, loaded on the first call (from whichever thread asks first) and
    shared after that: paths that never embed (`--no-process`, an API nobody searches) never
    pay for the model."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.loaded = embedder
        self.lock = threading.Lock()

    def __call__(self) -> Embedder:
        with self.lock:
            if self.loaded is None:
                self.loaded = open_embedder_for(self.settings)
            return self.loaded

    @property
    def is_loaded(self) -> bool:
        return self.loaded is not None


@dataclass
class Runtime:
    settings: Settings
    sessions: sessionmaker[Session]
    clock: Clock
    ingestor: Ingestor
    dispatcher: Dispatcher
    embedder: LazyEmbedder
    processor: Processor | None
    warming: asyncio.Task[None] | None = None  # the model loading its weights, in a thread

    async def processor_ready(self) -> Processor | None:
        """The processor once its model is warm (None when this runtime does not process)."""
        if self.warming is not None:
            await asyncio.shield(self.warming)
        return self.processor

    @property
    def owners(self) -> tuple[str, ...]:
        """The claim owner of each worker in this process."""
        workers = (self.ingestor.owner, self.dispatcher.owner)
        return workers + ((self.processor.owner,) if self.processor else ())

    def release_claims(self) -> None:
        """Stop the processor claiming more, then give back the feeds, articles and deliveries
        this process claimed and did not finish."""
        if self.processor is not None:
            self.processor.stopping.set()
        release_claims_of(self.sessions, self.owners)


def release_claims_of(sessions: sessionmaker[Session], owners: tuple[str, ...]) -> None:
    """Give back every claim `owners` hold; a database that refuses is logged (the leases then
    expire on their own)."""
    try:
        with sessions.begin() as session:
            for owner in owners:
                release_leases(session, owner)
    except Exception:
        log.warning("could not release claims", exc_info=True, extra={"owners": owners})


@asynccontextmanager
async def open_dispatcher(
    settings: Settings,
    sessions: sessionmaker[Session],
    clock: Clock = utc_now,
    environ: Mapping[str, str] = os.environ,
    client: httpx.AsyncClient | None = None,
) -> AsyncIterator[Dispatcher]:
    """The alert senders and the dispatcher, over `client` or an HTTP client of their own (for
    `monitor alerts dispatch`); missing secrets are a ConfigError. Leases the dispatcher still
    holds are given back on the way out."""
    async with AsyncExitStack() as stack:
        if client is None:
            client = await stack.enter_async_context(open_client(settings.network))
        senders = open_senders(settings.alerts, settings.smtp, client, clock, environ)
        dispatcher = Dispatcher(sessions, senders, settings.alerts, clock)
        try:
            yield dispatcher
        finally:
            release_claims_of(sessions, (dispatcher.owner,))


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    sessions: sessionmaker[Session],
    process: bool = True,
    clock: Clock = utc_now,
    embedder: LazyEmbedder | None = None,
    environ: Mapping[str, str] = os.environ,
) -> AsyncIterator[Runtime]:
    """Open everything a running monitor needs; `process=False` builds no processor (and so
    loads no model). Alert rules naming a country or topic the gazetteer cannot tag are a
    ConfigError before anything opens. On the way out, claims are released before anything is
    closed."""
    if settings.alerts.rules:
        check_alert_rules(settings.alerts, load_gazetteer(settings.relevance.gazetteer_dir))
    embedder = embedder or LazyEmbedder(settings)
    async with (
        open_ingestor(settings, sessions) as ingestor,
        open_dispatcher(settings, sessions, clock, environ, ingestor.client) as dispatcher,
    ):
        ingestor.clock = clock
        processor = build_processor(settings, sessions, clock, embedder()) if process else None
        runtime = Runtime(settings, sessions, clock, ingestor, dispatcher, embedder, processor)
        if processor is not None:  # weights load on first use: do it while the first cycle runs
            runtime.warming = asyncio.create_task(asyncio.to_thread(warm_up, embedder, processor))
        try:
            yield runtime
        finally:
            runtime.release_claims()
            if runtime.warming is not None:
                await asyncio.gather(runtime.warming, return_exceptions=True)
            if processor is not None:
                await asyncio.to_thread(save_window, processor)
                await asyncio.to_thread(processor.close)


def warm_up(embedder: LazyEmbedder, processor: Processor | None = None) -> None:
    """Embed one text so the first batch does not wait for the weights, and load the
    processor's window index and its encoder processes; a failure here is logged, and met
    again (and reported) by the first batch."""
    try:
        embedder().embed(["warm-up"])
        if processor is not None:
            processor.start_encoder()
    except Exception:
        log.warning("the embedder failed to warm up", exc_info=True)
    if processor is not None:
        try:
            processor.open_window()
        except Exception:
            log.warning("the window index failed to load", exc_info=True)


def save_window(processor: Processor) -> None:
    """Save the window index for the next start; a failure is logged (the next start then
    rebuilds it from the database)."""
    try:
        processor.save_window()
    except Exception:
        log.warning("could not save the window index", exc_info=True)
