"""Pioneer volunteers: registration and profiles, finding volunteers by skill, place and time,
teams, yearly public commitments (承诺) and the discipline ladder."""
