pytest_plugins = [
    "tests.fixtures.engines",
    "tests.fixtures.render_farm",
    "tests.fixtures.users",
    "tests.fixtures.websockets",
]
