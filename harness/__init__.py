"""What every layer of the harness shares: the results store, the command-line conventions, the data-spec grammar.

It sits below `bench` and `reports` and imports neither (nor any other package of this project), so both can
import it without an arrow running against the flow spec -> model -> run -> result rows -> report;
`tests/test_layering.py` keeps it so.
"""
