"""The `argparse-reference` directive: a command-line reference generated from
an argparse parser at build time, never copied by hand.

    ```{argparse-reference} bwbench.cli:build_parser
    ```

renders the program's usage and options, then a section per subcommand with
its description, usage and every argument with its help, as --help words them."""
import argparse
import importlib

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from docnodes import paragraph, section


class ArgparseReference(SphinxDirective):
    required_arguments = 1   # module:function returning the parser

    def run(self):
        module, _, function = self.arguments[0].partition(":")
        try:
            parser = getattr(importlib.import_module(module), function)()
        except (ImportError, AttributeError) as error:
            raise self.error(f"argparse-reference: cannot build the parser {self.arguments[0]}: {error}")
        return _parser_nodes(self.state.document, parser)


def _parser_nodes(document, parser) -> list:
    """Description, usage and arguments of parser; a section per subcommand."""
    out = []
    if parser.description:
        out.append(paragraph(parser.description))
    out.append(nodes.literal_block(text=parser.format_usage().strip()))
    formatter = parser._get_formatter()
    subsections = []
    for group in parser._action_groups:
        items = []
        for action in group._group_actions:
            if action.help == argparse.SUPPRESS:
                continue
            if isinstance(action, argparse._SubParsersAction):
                items += _subcommands(document, action, subsections)
            else:
                items.append(_item(nodes.literal(text=formatter._format_action_invocation(action)),
                                   formatter._expand_help(action) if action.help else ""))
        if items:
            out += [nodes.rubric(text=group.title.capitalize()), nodes.definition_list("", *items)]
    return out + subsections


def _subcommands(document, action, subsections: list) -> list:
    """One item per subcommand, linked to its section (appended to subsections)."""
    helps = {choice.dest: choice.help for choice in action._choices_actions}
    items = []
    for name, subparser in action.choices.items():
        node = section(document, subparser.prog)
        node += _parser_nodes(document, subparser)
        subsections.append(node)
        link = nodes.reference("", "", nodes.literal(text=name), refid=node["ids"][0], internal=True)
        items.append(_item(link, helps.get(name) or ""))
    return items


def _item(term, text: str) -> nodes.definition_list_item:
    definition = nodes.definition()
    definition += paragraph(text)
    return nodes.definition_list_item("", nodes.term("", "", term), definition)


def setup(app):
    app.add_directive("argparse-reference", ArgparseReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
