"""The containers: Docker SDK calls, the dev container, throwaway containers, and
waiting until a server really answers.
"""
