"""Policy payloads."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.channels import ChannelName

Level = Literal["red", "orange", "yellow", "blue"]
ReachLevel = Literal["province", "prefecture", "county", "township", "village"]
Channel = ChannelName


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reach: Annotated[list[ReachLevel], Field(min_length=1, max_length=5)]
    ack_timeout_s: Annotated[float, Field(ge=1, le=7 * 24 * 3600)]
    max_attempts: Annotated[int, Field(ge=1, le=20)]
    channels_by_attempt: Annotated[
        list[Annotated[list[Channel], Field(min_length=1, max_length=2)]], Field(min_length=1, max_length=20)
    ]
    escalate: bool
    escalate_above_county: bool = False
    # Targeted regions with a loudspeaker broadcast the warning; left out, red and orange do.
    broadcast: bool | None = None
    broadcast_repeat: Annotated[int, Field(ge=1, le=10)] = 3

    @model_validator(mode="after")
    def _distinct(self) -> "PolicyIn":
        self.reach = list(dict.fromkeys(self.reach))
        self.channels_by_attempt = [list(dict.fromkeys(channels)) for channels in self.channels_by_attempt]
        return self


class PolicyOut(PolicyIn):
    model_config = ConfigDict(from_attributes=True)

    level: Level
