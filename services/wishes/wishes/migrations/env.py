from pioneer.db import kernel_metadata
from pioneer.migrations import run_env
from pioneer.replica import replica_metadata
from pioneer.replica_skills import skills_metadata
from wishes.models import Base

run_env([Base.metadata, kernel_metadata, replica_metadata, skills_metadata])
