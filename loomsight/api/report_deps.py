"""The report settings as a dependency of the rate and roll routes.

They are `ApiSettings.reports`; tests and embedders may override `get_report_settings`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from loomsight.api.deps import SettingsDep
from loomsight.api.report_settings import ReportSettings


async def get_report_settings(settings: SettingsDep) -> ReportSettings:
    return settings.reports


ReportSettingsDep = Annotated[ReportSettings, Depends(get_report_settings)]
