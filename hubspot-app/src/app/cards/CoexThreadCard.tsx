import { hubspot } from '@hubspot/ui-extensions';
import { CoexCard } from './CoexCard.js';

// The card's entry point (see coex-thread-hsmeta.json). All data goes through hubspot.fetch:
// marketplace (OAuth) apps cannot use HubSpot serverless functions.
hubspot.extend<'crm.record.tab'>(({ context, actions }) => <CoexCard context={context} fetcher={hubspot.fetch} addAlert={actions.addAlert} />);
