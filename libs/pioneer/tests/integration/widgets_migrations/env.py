from widgets import Base

from pioneer.db import kernel_metadata
from pioneer.migrations import run_env

run_env([Base.metadata, kernel_metadata])
