"""Heavy work off the request path: the job board, the capped runner, the queue.

See :mod:`geoservice.jobs.dispatch` (submitting and running), :mod:`geoservice.jobs.board`
(states, progress, the queue's bound) and :mod:`geoservice.jobs.capped` (the cap that holds).
"""

from geoservice.jobs.board import Job, JobBoard
from geoservice.jobs.capped import Progress
from geoservice.jobs.dispatch import Jobs, Kind, make_queue

__all__ = ["Job", "JobBoard", "Jobs", "Kind", "Progress", "make_queue"]
