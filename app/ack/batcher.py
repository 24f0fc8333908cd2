"""Group commit for acknowledgements through the link (see app.groups): presses arriving together
are acknowledged together, with a handful of set-based statements, and each answered once the
group is committed."""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app import logs
from app.call import answers
from app.groups import GroupCommit

BATCH = 500
WINDOW_S = 0.002


async def _acknowledge(
    session: AsyncSession, presses: list[tuple[str, str | None]], now: datetime
) -> list[answers.AckOutcome]:
    outcomes = await answers.acknowledge_links(session, dict(presses), now=now)
    return [outcomes[token_hash] for token_hash, _ in presses]


class AckBatcher:
    """Acknowledgements of one process, committed in groups."""

    def __init__(self) -> None:
        self.groups: GroupCommit[tuple[str, str | None], answers.AckOutcome] = GroupCommit(
            "ack-batcher", _acknowledge, batch=BATCH, window_s=WINDOW_S
        )

    async def acknowledge(self, token_hash: str) -> answers.AckOutcome:
        """Acknowledge the call behind a token hash; returns once the answer is committed."""
        return await self.groups.submit((token_hash, logs.request_id.get()))

    async def close(self) -> None:
        await self.groups.close()
