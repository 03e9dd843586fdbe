"""Volunteers' use cases, one module per sub-domain; each use case is a function of a unit of
work and its command.

- ``registration``: register, read and change a volunteer, and the bulk import's batches;
- ``search``: find volunteers by skill, status, availability and place;
- ``teams``: teams and their members;
- ``commitments``: the yearly public commitments;
- ``discipline``: complaints, the ladder and reinstatement.

Who may call them is declared with the entrypoints (``service``) and checked before they run;
here are the rules that need the stored records, the writes and their events. Data is reached
only through ``uow.store`` (``store.VolunteersStore``), so the tests run these on a fake store.
"""
