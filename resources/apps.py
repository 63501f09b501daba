from django.apps import AppConfig


class ResourcesConfig(AppConfig):
    name = "resources"
    verbose_name = "Resources: units, status, position"

    def ready(self) -> None:
        # `cad` and `incidents` sit below this app: they learn what they need of units and
        # assignments by registration, and never import resources.
        from django.db.models.signals import post_delete, post_save

        from cad.audit.search import register_incident_rows
        from cad.live.events import react
        from cad.live.replay import register_replay_section
        from cad.live.snapshot import register_snapshot_section
        from incidents.events import (
            INCIDENT_CLOSED,
            INCIDENT_CREATED,
            INCIDENT_REGRADED,
            INCIDENT_REOPENED,
            INCIDENT_UPDATED,
        )
        from incidents.models import IncidentType, ResponsePlanItem
        from incidents.operations.partners import partner_sender_register
        from incidents.operations.selectors import (
            register_operation_detail_part,
            register_operation_units,
        )
        from incidents.selectors import register_incident_detail_part
        from incidents.services import incident_close_hook_register
        from resources import reactions
        from resources.caller_texts import reactions as caller_texts
        from resources.despatch import assignments_clear_on_close
        from resources.events import ASSIGNMENT_CREATED
        from resources.models import Skill, UnitType
        from resources.partners import reactions as partner_reactions
        from resources.partners import services as partner_services
        from resources.partners.selectors import (
            incident_partner_shares,
            partner_agencies_available,
        )
        from resources.recommend.engine import plan_cache_clear
        from resources.replay import UNITS
        from resources.ringfence import operation_callsigns, operation_units
        from resources.selectors import assignment_audit_rows, incident_assignments, units_for_board

        register_snapshot_section("units", units_for_board)
        register_replay_section("units", UNITS)
        register_incident_rows(assignment_audit_rows)
        register_incident_detail_part("assignments", incident_assignments)
        # A planned operation's ring-fenced units, in its detail and its own stream.
        register_operation_detail_part("units", operation_units)
        register_operation_units(operation_callsigns)
        # In the closing transaction: an incident is never closed with units still on it.
        incident_close_hook_register(assignments_clear_on_close)
        # After commit: recommendations follow the incident.
        react(INCIDENT_CREATED, reactions.recommend_for_new_incident)
        react(INCIDENT_REGRADED, reactions.recommend_for_regraded_incident)
        react(INCIDENT_REOPENED, reactions.recommend_for_reopened_incident)
        # Partner agencies (resources/partners/): shared incidents follow their changes.
        register_incident_detail_part("partners", incident_partner_shares)
        register_incident_detail_part("partner_agencies", partner_agencies_available)
        react(INCIDENT_UPDATED, partner_reactions.resend_changed_incident)
        react(INCIDENT_CLOSED, partner_reactions.resend_changed_incident)
        # A declared major incident's METHANE goes out through the same adapter (issue 17).
        partner_sender_register(partner_services.major_incident_to_partners)
        # After commit: texts to callers who agreed, on despatch, arrival and close (issue 15).
        react(ASSIGNMENT_CREATED, caller_texts.text_callers_on_despatch)
        react(INCIDENT_UPDATED, caller_texts.text_callers_on_arrival)
        react(INCIDENT_CLOSED, caller_texts.text_callers_on_close)
        # The recommendation keeps each type's response plan a few seconds (engine.plan_lines):
        # an edit to a plan, a type, a unit type or a skill here forgets them at once.
        for model in (ResponsePlanItem, IncidentType, UnitType, Skill):
            for signal in (post_save, post_delete):
                signal.connect(plan_cache_clear, sender=model, dispatch_uid=f"plans-{model}")
