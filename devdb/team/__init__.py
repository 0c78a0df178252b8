"""Working in a team: revisions from several branches meet in one checkout and one
dev database — a branch switch, a merge, a rebase — and the dev database is carried
across to the history of the branch at hand.
"""
