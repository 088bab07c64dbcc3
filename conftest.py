pytest_plugins = ["tests.fixtures.engines", "tests.fixtures.users", "tests.fixtures.websockets"]
