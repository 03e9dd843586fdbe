from pioneer.db import kernel_metadata
from pioneer.migrations import run_env
from volunteers.models import Base

run_env([Base.metadata, kernel_metadata])
