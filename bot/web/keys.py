"""Typed application keys for the state the web app shares between handlers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from bot.services import Services
from bot.settings import Settings
from bot.web.auth import AgentAuth
from bot.web.cors import CorsPolicy
from bot.web.library import DocumentLibrary
from bot.web.rasa import RasaClient
from bot.web.ratelimit import RateLimits

SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)
RASA = web.AppKey("rasa", RasaClient)
AUTH = web.AppKey("auth", AgentAuth)
DOCUMENTS = web.AppKey("documents", DocumentLibrary)
#: One worker thread for the retriever: model inference is CPU-bound and not shared.
RETRIEVER_POOL = web.AppKey("retriever_pool", ThreadPoolExecutor)
#: Token buckets per client address and per conversation (bot.web.ratelimit).
RATE_LIMITS = web.AppKey("rate_limits", RateLimits)
#: The origins that may use the member API from other sites (bot.web.cors).
CORS = web.AppKey("cors", CorsPolicy)
